"""PPI (protein-protein interaction graphs, GraphSAGE) in the DGL / PyG layout, checked
before use and cached in memory.

Where the files are looked for (first match wins):

1. ``load_ppi(split, root=...)``: ``<root>/PPI/``;
2. the environment variable ``HOGWILD_DATA``: ``$HOGWILD_DATA/PPI/``;
3. the download cache ``$HOGWILD_CACHE/PPI/`` (``HOGWILD_CACHE`` defaults to
   ``~/.cache/hogwild``). Only here is a missing file fetched: ``ppi.zip`` is downloaded
   from `URL` into a temporary file, accepted only if its git blob id (SHA-1 of
   ``b"blob <size>\\0" + bytes``, what ``git hash-object`` prints) is `BLOB_ID`, moved into
   place with ``os.replace`` and extracted (its files may sit at the top level of the
   archive or in one folder), each file again atomically.

In 1. and 2. the files may also sit in ``PPI/raw/`` (where PyG keeps them).

Each split ``S`` (``train``, ``valid``, ``test``) is four files:

- ``S_graph.json``: networkx node-link JSON (``{"nodes": [{"id": 0}, ...], "links":
  [{"source": 0, "target": 1}, ...], ...}``) over all nodes of the split; node ids are row
  indices into the arrays below;
- ``S_feats.npy``: (n, 50) node features;
- ``S_labels.npy``: (n, 121) binary labels (121 independent protein functions);
- ``S_graph_id.npy``: (n,) the graph each node belongs to.

A split becomes one `GraphData` per graph id (ascending), its nodes renumbered 0..n_g-1 in
row order: features float32, labels float32 ``node_targets``, links undirected (each node
pair once, stored both ways), duplicates and self-loops (PPI has some) dropped. A link
between two graphs, a node id outside the arrays, row counts that disagree, a label that is
not 0 or 1, a truncated or malformed file: each is a `DataError` naming the file.

STATS (the canonical files, from the data README; features float64 on disk):

=====  ======  =====  ========  ======
split  graphs  nodes  features  labels
=====  ======  =====  ========  ======
train      20  44906        50     121
valid       2   6514        50     121
test        2   5524        50     121
=====  ======  =====  ========  ======
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import os
import zipfile
from pathlib import Path

import numpy as np

from .._cache import cache_root
from ..graph import GraphData, GraphError, graph_from_edges
from ._fetch import DataError, data_dir, extract_member, fetch

__all__ = ["load_ppi", "ppi_dir", "git_blob_id", "URL", "BLOB_ID", "SPLITS", "STATS"]

URL = "https://data.dgl.ai/dataset/ppi.zip"
BLOB_ID = "f9997d90a1da012f26d2405e542185b980d30bd7"
SPLITS = ("train", "valid", "test")
PARTS = ("graph.json", "feats.npy", "labels.npy", "graph_id.npy")
FILES = tuple(f"{split}_{part}" for split in SPLITS for part in PARTS)
NUM_FEATURES, NUM_LABELS = 50, 121
STATS = {"train": (20, 44906), "valid": (2, 6514), "test": (2, 5524)}
"""(graphs, nodes) per split of the canonical files."""


def ppi_dir(root: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """(directory holding the PPI files, whether missing files may be downloaded there)."""
    return data_dir("PPI", root)


def _hint(path: Path) -> str:
    return (
        f"Delete {path} (the files are downloaded again into the cache when HOGWILD_DATA "
        "is unset), or set HOGWILD_DATA to a directory whose PPI/ folder holds the "
        f"canonical files (from {URL})."
    )


def git_blob_id(path: str | os.PathLike) -> str:
    """SHA-1 of ``b"blob <size>\\0"`` followed by the file's bytes (``git hash-object``)."""
    digest = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_blob(path: Path, source: str, fix: str) -> None:
    """Raise `DataError` (naming ``source``, then ``fix``) unless ``path`` is `BLOB_ID`."""
    found = git_blob_id(path)
    if found != BLOB_ID:
        raise DataError(
            f"{source}: git blob id of ppi.zip is {found}, expected {BLOB_ID} (a corrupt "
            f"or different file; not used). {fix}"
        )


def _download(directory: Path) -> Path:
    """Fetch ``ppi.zip`` from `URL` into ``directory``, verified, atomically."""
    fix = "Retry, or put the canonical files in D/PPI/ and set HOGWILD_DATA=D."
    try:
        return fetch(URL, directory / "ppi.zip", lambda path, url: _check_blob(path, url, fix))
    except DataError as err:
        raise DataError(f"{err} (into {directory}). {fix}") from err


def _members(archive: zipfile.ZipFile, source: Path) -> dict[str, str]:
    """File name -> archive member for every file of `FILES` (the shallowest if several)."""
    found: dict[str, str] = {}
    for member in sorted(archive.namelist(), key=lambda m: (m.count("/"), m)):
        name = member.rsplit("/", 1)[-1]
        if name in FILES and not member.startswith("__MACOSX/"):
            found.setdefault(name, member)
    missing = [name for name in FILES if name not in found]
    if missing:
        raise DataError(f"{source}: holds no {', '.join(missing)}. {_hint(source)}")
    return found


def _extract(source: Path, directory: Path) -> None:
    """Write every file of `FILES` from the zip ``source`` into ``directory``, each atomically."""
    try:
        with zipfile.ZipFile(source) as archive:
            for name, member in _members(archive, source).items():
                extract_member(archive, member, directory / name)
    except (zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{source}: not a valid zip file ({err}). {_hint(source)}") from err


def _fetch(directory: Path) -> None:
    """Extract the cached ``ppi.zip`` (downloading it first unless a verified copy is there)."""
    archive = directory / "ppi.zip"
    if archive.is_file():
        _check_blob(archive, str(archive), _hint(archive))
    else:
        archive = _download(directory)
    _extract(archive, directory)


def _split_paths(split: str, directory: Path, download: bool) -> tuple[Path, ...]:
    """The split's four files (see `PARTS`), fetched into the cache first if allowed."""
    names = [f"{split}_{part}" for part in PARTS]
    for folder in (directory, directory / "raw"):
        if all((folder / name).is_file() for name in names):
            return tuple(folder / name for name in names)
    if download:
        _fetch(directory)
        return tuple(directory / name for name in names)
    missing = next(name for name in names if not (directory / name).is_file())
    raise DataError(
        f"{directory / missing} not found. Put the PPI files ({URL}, extracted) there, or "
        "point HOGWILD_DATA / root at the directory holding PPI/, or unset HOGWILD_DATA to "
        f"download them into the cache ({cache_root() / 'PPI'})."
    )


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npy array ({err}). {_hint(path)}") from err


def _check_array(path: Path, array: np.ndarray, ndim: int, width: int | None, rows: int):
    """Raise `DataError` unless ``array`` is numeric of shape (rows,) or (rows, width)."""
    shape = (rows,) if ndim == 1 else (rows, width)
    if array.dtype.kind not in "biuf" or array.shape != shape:
        raise DataError(
            f"{path}: {array.dtype} array of shape {array.shape}, expected a numeric array "
            f"of shape {shape} (one row per node of graph_id.npy). {_hint(path)}"
        )


def _read_arrays(paths: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float32 features, float32 binary labels, int64 graph ids), checked."""
    _, feats_path, labels_path, ids_path = paths
    ids = _load_npy(ids_path)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise DataError(
            f"{ids_path}: {ids.dtype} array of shape {ids.shape}, expected integer graph ids "
            f"of shape (n,). {_hint(ids_path)}"
        )
    feats, labels = _load_npy(feats_path), _load_npy(labels_path)
    _check_array(feats_path, feats, 2, NUM_FEATURES, len(ids))
    _check_array(labels_path, labels, 2, NUM_LABELS, len(ids))
    if not np.all(np.isfinite(feats)):
        raise DataError(f"{feats_path}: features hold NaN or inf. {_hint(feats_path)}")
    if not np.isin(labels, (0, 1)).all():
        bad = labels[~np.isin(labels, (0, 1))][0]
        raise DataError(f"{labels_path}: label {bad} is not 0 or 1. {_hint(labels_path)}")
    return feats.astype(np.float32), labels.astype(np.float32), ids.astype(np.int64)


def _ids(items: list, key: str, path: Path) -> np.ndarray:
    """``item[key]`` of every dict in ``items`` as int64, via C-level iteration (no Python
    loop per link: PPI train has about 1.2 million)."""
    try:
        values = np.fromiter(map(operator.itemgetter(key), items), np.float64, len(items))
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(
            f"{path}: an entry without a numeric {key!r} ({err!r}). {_hint(path)}"
        ) from err
    if not np.all(values == np.round(values)):
        bad = values[values != np.round(values)][0]
        raise DataError(f"{path}: {key} {bad} is not an integer node id. {_hint(path)}")
    return values.astype(np.int64)


def _read_links(path: Path, num_nodes: int) -> np.ndarray:
    """(E, 2) int64 node ids of the links of node-link JSON ``path``, checked against its
    node list, which must be the ids 0..num_nodes-1 (in any order)."""
    try:
        with open(path, "rb") as f:
            graph = json.load(f)
        nodes, links = graph["nodes"], graph["links"]
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise DataError(f"{path}: not valid JSON ({err}). {_hint(path)}") from err
    except (KeyError, TypeError) as err:
        raise DataError(
            f"{path}: not networkx node-link JSON (no 'nodes' and 'links' lists). {_hint(path)}"
        ) from err
    ids = np.sort(_ids(nodes, "id", path))
    if len(ids) != num_nodes or np.any(ids != np.arange(num_nodes)):
        raise DataError(
            f"{path}: its {len(ids)} node ids are not 0..{num_nodes - 1}, the rows of the "
            f"split's arrays (graph_id.npy has {num_nodes}). {_hint(path)}"
        )
    pairs = np.stack([_ids(links, "source", path), _ids(links, "target", path)], axis=1)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_nodes):
        bad = pairs[(pairs < 0) | (pairs >= num_nodes)][0]
        raise DataError(
            f"{path}: a link names node {bad}, not one of the {num_nodes} nodes. {_hint(path)}"
        )
    return pairs


def clean_pairs(pairs: np.ndarray, graph_id: np.ndarray, path: Path) -> np.ndarray:
    """Undirected node pairs (a, b), a < b, each once, sorted by (graph id of a, a, b):
    self-loops and repeats (in either direction) dropped; a pair across two graphs is a
    `DataError` naming ``path``."""
    pairs = np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1)
    crossing = graph_id[pairs[:, 0]] != graph_id[pairs[:, 1]]
    if crossing.any():
        a, b = pairs[np.argmax(crossing)]
        raise DataError(
            f"{path}: link ({a}, {b}) joins graph {graph_id[a]} to graph {graph_id[b]}; "
            f"links must stay within one graph. {_hint(path)}"
        )
    n = len(graph_id)
    _, rank = np.unique(graph_id, return_inverse=True)  # 0..G-1: keys stay below G n^2
    keys = np.unique((rank[pairs[:, 0]] * n + pairs[:, 0]) * n + pairs[:, 1])
    return np.stack([keys // n % n, keys % n], axis=1)


def _graphs(feats, labels, graph_id, pairs, path: Path) -> tuple[GraphData, ...]:
    """One `GraphData` per graph id (ascending), nodes renumbered in row order; ``pairs``
    as `clean_pairs` returns them."""
    ids, rank = np.unique(graph_id, return_inverse=True)
    bounds = np.searchsorted(rank[pairs[:, 0]], np.arange(len(ids) + 1))
    local = np.zeros(len(graph_id), np.int64)
    out = []
    for k, g in enumerate(ids):
        rows = np.flatnonzero(rank == k)
        local[rows] = np.arange(len(rows))
        edges = local[pairs[bounds[k] : bounds[k + 1]]]
        try:
            out.append(graph_from_edges(feats[rows], edges, node_targets=labels[rows]))
        except GraphError as err:
            raise DataError(f"{path}: graph {g}: {err} {_hint(path)}") from err
    return tuple(out)


def _read_split(paths: tuple[Path, ...]) -> tuple[GraphData, ...]:
    feats, labels, graph_id = _read_arrays(paths)
    if not len(graph_id):
        raise DataError(f"{paths[3]}: no nodes (an empty split). {_hint(paths[3])}")
    pairs = clean_pairs(_read_links(paths[0], len(graph_id)), graph_id, paths[0])
    return _graphs(feats, labels, graph_id, pairs, paths[0])


@functools.lru_cache(maxsize=len(SPLITS))
def _load_cached(paths: tuple[Path, ...], stamps: tuple) -> tuple[GraphData, ...]:
    del stamps  # part of the cache key only: a replaced file is read and checked again
    graphs = _read_split(paths)
    for g in graphs:  # shared by every caller: read-only
        for array in (g.nodes, g.senders, g.receivers, g.edges, g.edge_weight, g.node_targets):
            array.setflags(write=False)
    return graphs


def load_ppi(split: str = "train", root: str | os.PathLike | None = None) -> list[GraphData]:
    """The PPI ``split`` as one `GraphData` per graph (see the module docstring for the files
    and the STATS table: 20 / 2 / 2 graphs of 591 to 3480 nodes).

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"`` (the fixed split of the files).
        root: a data directory holding ``PPI/``; default ``$HOGWILD_DATA``, else the
            download cache (downloaded and verified there on first use).

    Returns:
        The split's graphs in ascending graph id: ``nodes`` float32 (n_g, 50), undirected
        edges (each pair both ways, no self-loops, no repeats), ``node_targets`` float32
        (n_g, 121) of 0 / 1. Parsed once per file set and shared (arrays read-only).

    Raises:
        DataError: a file is missing (and may not be downloaded), the download's git blob
            id is wrong, or a file is truncated or inconsistent with the others; the
            message names the file and the fix.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown PPI split {split!r}; valid: {', '.join(SPLITS)}.")
    directory, download = ppi_dir(root)
    paths = tuple(p.resolve() for p in _split_paths(split, directory, download))
    stamps = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    return list(_load_cached(paths, stamps))
