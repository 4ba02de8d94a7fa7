"""Graph-classification benchmarks in the TU Dortmund text format (MUTAG, PROTEINS, ...).

Where the files are looked for (first match wins), as for MNIST:

1. ``load_tu(name, root=...)``: ``<root>/TU/NAME/``;
2. ``$HOGWILD_DATA/TU/NAME/``;
3. the download cache ``$HOGWILD_CACHE/TU/NAME/``; only here is a missing dataset
   downloaded, as the canonical ``NAME.zip`` from `URL`.

The format (one line per item, node ids 1-based): ``NAME_A.txt`` lists directed edges
``row, col`` (undirected graphs list both directions), ``NAME_graph_indicator.txt`` the graph
of every node, ``NAME_graph_labels.txt`` the label of every graph, and optionally
``NAME_node_labels.txt``, ``NAME_node_attributes.txt`` (comma-separated floats) and
``NAME_edge_labels.txt`` (one per line of ``A``). For the datasets in `SHA256` every file is
checked against its SHA-256 before it is parsed, so a truncated or corrupt copy is refused
with an error naming the file; other TU datasets are read with the format checks only.

Features: node labels one-hot (MUTAG: R^7, PROTEINS: R^3), then the node attributes when
asked for (raw values: PROTEINS' range over [-538, 798], scale them before use); edge
labels one-hot as edge features when asked for (MUTAG: R^4, bond types). Graph labels are
mapped to 0..C-1 in sorted order (MUTAG -1, +1 -> 0, 1; PROTEINS 1, 2 -> 0, 1).

STATS (from the files, as in ``../shared/data/README.md`` and the paper's Appendix G.1):

=========  ======  ======  ===============  ===============  ========  ======
dataset    graphs  nodes   nodes per graph  edges per graph  features  classes
=========  ======  ======  ===============  ===============  ========  ======
MUTAG      188     3,371   17.93            19.79            7         2
PROTEINS   1,113   43,471  39.06            72.82            3         2
=========  ======  ======  ===============  ===============  ========  ======
"""

from __future__ import annotations

import dataclasses
import functools
import os
import zipfile
from pathlib import Path

import numpy as np

from ..graph import GraphData
from ._fetch import DataError, data_dir, extract_member, fetch, sha256_of

__all__ = ["TUDataset", "load_tu", "tu_dir", "URL", "SHA256"]

URL = "https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip"

#: SHA-256 of every file of the datasets this library checks (``../shared/data/README.md``).
SHA256 = {
    "MUTAG": {
        "A": "d9656ca7493f3445d737c711710bb36fd432dddd1c0ea32e1d4713c86ebd28e2",
        "edge_labels": "4669ce755075ff86c3240709345745886400908fa637a49310459b9c267b3e56",
        "graph_indicator": "7d520a4d6c7961c0cdeabe076d8fe27e795b6d373485c9a2b744987e560a2056",
        "graph_labels": "a1518ea39ba3426bd42f57396b9c4baffe68e9adc718caeeab0119c6591a5f2c",
        "node_labels": "678f429965490e84dd27713017538c995fc05d1621beac910848b600015ee863",
    },
    "PROTEINS": {
        "A": "4c4b33e272fc95cac6d27ed6d5d12b9a852c8610e91fff59f8f0dbdd5a20df67",
        "graph_indicator": "8d4ff1e852a5c28561e9bffb44cf9490bc552b13a3b6156dd12dc7f44e9afc4a",
        "graph_labels": "c0ef9810c440775252872318d0c8adc385588e14bc4c47a2c34aa96ee3c7cdcd",
        "node_attributes": "54eef829abb37e458a5fbf3a3c581e48e5810e220463c2cd951856b9ceb08f07",
        "node_labels": "f758e8ad3d6e3c026b50833d75f6f90735b94eb3345e4243707f495ca8afea8d",
    },
}
REQUIRED = ("A", "graph_indicator", "graph_labels")
OPTIONAL = ("node_labels", "node_attributes", "edge_labels")


@dataclasses.dataclass(frozen=True)
class TUDataset:
    """A TU dataset as graphs with their class index as ``graph_target`` (shape (1,)).

    Attributes:
        name: e.g. ``"MUTAG"``.
        graphs: one `GraphData` per graph, in file order.
        labels: (graphs,) int class indices 0..C-1.
        classes: the original label of each class index.
    """

    name: str
    graphs: tuple[GraphData, ...]
    labels: np.ndarray
    classes: tuple

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def statistics(self) -> dict:
        """graphs, nodes, mean nodes and undirected edges per graph, features, classes."""
        nodes = np.array([g.num_nodes for g in self.graphs])
        edges = np.array([g.num_edges for g in self.graphs]) / 2
        return {
            "graphs": len(self.graphs),
            "nodes": int(nodes.sum()),
            "nodes_per_graph": float(nodes.mean()),
            "edges_per_graph": float(edges.mean()),
            "features": int(self.graphs[0].nodes.shape[1]),
            "classes": self.num_classes,
        }


def tu_dir(name: str, root: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """(directory holding ``name``'s files, whether they may be downloaded there)."""
    return data_dir(f"TU/{name}", root)


def _path(directory: Path, name: str, part: str) -> Path:
    return directory / f"{name}_{part}.txt"


def _check_sha256(name: str, part: str, path: Path) -> None:
    expected = SHA256.get(name, {}).get(part)
    if expected is None:
        return
    digest = sha256_of(path)
    if digest != expected:
        raise DataError(
            f"{path}: SHA-256 {digest[:16]}... is not the canonical {expected[:16]}... "
            f"({path.stat().st_size} bytes; truncated or corrupt). Delete it and put the "
            f"canonical {name} files there, or unset HOGWILD_DATA to download them."
        )


def _download(name: str, directory: Path) -> None:
    """Fetch ``NAME.zip`` and extract its ``NAME_*.txt`` files into ``directory``, each
    checked (every file goes through a temporary name, so none is half-written)."""
    archive = directory / f"{name}.zip"

    def check(path: Path, url: str) -> None:
        if not zipfile.is_zipfile(path):
            raise DataError(f"{url}: the download is not a zip archive.")

    fetch(URL.format(name=name), archive, check)
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                base = Path(member).name
                if base.startswith(f"{name}_") and base.endswith(".txt"):
                    _extract_checked(zf, member, name, directory / base)
    finally:
        archive.unlink()  # a bad archive is fetched afresh next time, not reused


def _extract_checked(zf, member: str, name: str, dest: Path) -> None:
    """``member`` into ``dest`` through a temporary name, once its SHA-256 is the known one."""
    tmp = extract_member(zf, member, dest.with_name(f".{dest.name}.part"))
    try:
        _check_sha256(name, dest.name[len(name) + 1 : -4], tmp)
    except DataError:
        tmp.unlink()
        raise
    os.replace(tmp, dest)


def required_parts(name: str) -> tuple[str, ...]:
    """The files ``name`` must have: the TU format's own, and the node labels of a dataset
    known to have them (`SHA256`), so a lost node-label file is never read as a dataset
    without node labels (a constant feature). Edge labels and node attributes are required
    when asked for (`_require`)."""
    labelled = "node_labels" in SHA256.get(name, {})
    return (*REQUIRED, "node_labels") if labelled else REQUIRED


def _locate(name: str, root) -> Path:
    directory, download = tu_dir(name, root)
    missing = [p for p in required_parts(name) if not _path(directory, name, p).is_file()]
    if missing and download:
        _download(name, directory)
    elif missing:
        raise DataError(
            f"{_path(directory, name, missing[0])} not found. Put the TU files of {name} in "
            f"{directory}, point HOGWILD_DATA / root at the directory holding TU/, or unset "
            f"HOGWILD_DATA to download {URL.format(name=name)} into the cache."
        )
    return directory


def _read_table(path: Path, columns: int | None = None, dtype=np.int64) -> np.ndarray:
    """The numbers of a TU file as an array (rows, columns) or (rows,)."""
    try:
        table = np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
    except ValueError as err:
        raise DataError(f"{path}: not a table of numbers ({err}).") from err
    if columns is not None and table.shape[1] != columns:
        raise DataError(f"{path}: {table.shape[1]} columns per line, expected {columns}.")
    return table[:, 0] if table.shape[1] == 1 and columns == 1 else table


def _one_hot(values: np.ndarray, path: Path) -> np.ndarray:
    if values.min() < 0:
        raise DataError(f"{path}: negative label {values.min()}; labels must be 0, 1, ...")
    return np.eye(int(values.max()) + 1, dtype=np.float32)[values]


def _check_lengths(path: Path, array: np.ndarray, expected: int, what: str) -> None:
    if len(array) != expected:
        raise DataError(f"{path}: {len(array)} lines, expected {expected} (one per {what}).")


@dataclasses.dataclass(frozen=True)
class _Tables:
    edges: np.ndarray  # (m, 2), 0-based
    graph_of_node: np.ndarray  # (n,), 0-based
    graph_labels: np.ndarray  # (g,)
    node_features: np.ndarray  # (n, p)
    edge_features: np.ndarray  # (m, r)


def _read_tables(name: str, directory: Path, attributes: bool, edge_labels: bool) -> _Tables:
    parts = [*REQUIRED, "node_labels"]
    parts += ["node_attributes"] if attributes else []
    parts += ["edge_labels"] if edge_labels else []
    for part in parts:  # missing required files were caught by `_locate`
        if _path(directory, name, part).is_file():
            _check_sha256(name, part, _path(directory, name, part))
    path = functools.partial(_path, directory, name)
    edges = _read_table(path("A"), 2) - 1
    graph_of_node = _read_table(path("graph_indicator"), 1) - 1
    graph_labels = _read_table(path("graph_labels"), 1)
    n = len(graph_of_node)
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        raise DataError(f"{path('A')}: node ids outside 1..{n} (the graph indicator's count).")
    features = [_node_labels(path("node_labels"), n)]
    if attributes:
        features.append(_node_attributes(path("node_attributes"), n))
    edge_features = np.zeros((len(edges), 0), np.float32)
    if edge_labels:
        labels = _read_table(_require(path("edge_labels")), 1)
        _check_lengths(path("edge_labels"), labels, len(edges), "line of A")
        edge_features = _one_hot(labels, path("edge_labels"))
    return _Tables(
        edges, graph_of_node, graph_labels, np.concatenate(features, axis=1), edge_features
    )


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"{path} not found; this dataset has no such file.")
    return path


def _node_labels(path: Path, n: int) -> np.ndarray:
    """One-hot node labels, or a constant feature 1 when the dataset has none."""
    if not path.is_file():
        return np.ones((n, 1), np.float32)
    labels = _read_table(path, 1)
    _check_lengths(path, labels, n, "node")
    return _one_hot(labels, path)


def _node_attributes(path: Path, n: int) -> np.ndarray:
    values = _read_table(_require(path), None, np.float32)
    _check_lengths(path, values, n, "node")
    return values


def _split_graphs(tables: _Tables, classes: np.ndarray, path) -> list[GraphData]:
    """One `GraphData` per graph: nodes renumbered from 0, the edges of ``A`` kept with
    their features; an edge between two graphs is refused."""
    gid = tables.graph_of_node
    if np.any(np.diff(gid) < 0):
        raise DataError(
            f"{path('graph_indicator')}: graph ids must not decrease (nodes are stored graph "
            "by graph)."
        )
    src, dst = tables.edges[:, 0], tables.edges[:, 1]
    if np.any(gid[src] != gid[dst]):
        k = int(np.argmax(gid[src] != gid[dst]))
        raise DataError(
            f"{path('A')}: line {k + 1} joins nodes of graphs {gid[src[k]] + 1} and "
            f"{gid[dst[k]] + 1}."
        )
    num = len(tables.graph_labels)
    node_start = np.searchsorted(gid, np.arange(num + 1))
    order = np.argsort(gid[src], kind="stable")
    edge_start = np.searchsorted(gid[src][order], np.arange(num + 1))
    graphs = []
    for g in range(num):
        nodes = slice(node_start[g], node_start[g + 1])
        rows = order[edge_start[g] : edge_start[g + 1]]
        graphs.append(
            GraphData(
                nodes=tables.node_features[nodes],
                senders=(src[rows] - node_start[g]).astype(np.int32),
                receivers=(dst[rows] - node_start[g]).astype(np.int32),
                edges=tables.edge_features[rows],
                edge_weight=np.ones(len(rows), np.float32),
                graph_target=np.array([classes[g]], np.float32),
            )
        )
    return graphs


@functools.lru_cache(maxsize=8)
def _load_cached(name, directory, stamps, attributes, edge_labels) -> TUDataset:
    del stamps  # part of the cache key only: replaced files are read and checked again
    tables = _read_tables(name, directory, attributes, edge_labels)
    path = functools.partial(_path, directory, name)
    _check_lengths(
        path("graph_labels"),
        tables.graph_labels,
        tables.graph_of_node.max() + 1,
        "graph of the graph indicator",
    )
    originals, classes = np.unique(tables.graph_labels, return_inverse=True)
    graphs = _split_graphs(tables, classes, path)
    return TUDataset(
        name, tuple(graphs), classes.astype(np.int64), tuple(int(c) for c in originals)
    )


def load_tu(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    node_attributes: bool = False,
    edge_labels: bool = False,
) -> TUDataset:
    """The TU dataset ``name`` (e.g. ``"MUTAG"``, ``"PROTEINS"``) as checked graphs.

    Args:
        name: the dataset's name, as in its file names.
        root: a data directory holding ``TU/NAME/``; default ``$HOGWILD_DATA``, else the
            download cache (see the module docstring).
        node_attributes: append ``NAME_node_attributes.txt`` (raw values) to the one-hot
            node labels.
        edge_labels: one-hot ``NAME_edge_labels.txt`` as edge features (else none).

    Raises:
        DataError: a file is missing (and may not be downloaded), fails its SHA-256, or is
            not in the TU format; the message names the file.
    """
    directory = _locate(name, root).resolve()
    stamps = tuple(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.glob(f"{name}_*.txt"))
    )
    return _load_cached(name, directory, stamps, node_attributes, edge_labels)
