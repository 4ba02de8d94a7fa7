"""MNIST from the standard IDX files, checked before use and cached in memory.

Where the files are looked for (first match wins):

1. ``load_mnist(root=...)``: ``<root>/MNIST/``;
2. the environment variable ``HOGWILD_DATA``: ``$HOGWILD_DATA/MNIST/``;
3. the download cache ``$HOGWILD_CACHE/MNIST/`` (``HOGWILD_CACHE`` defaults to
   ``~/.cache/hogwild``). Only here are missing files downloaded, from the canonical mirrors.

Each file may be gzipped (``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``,
the torchvision ``raw/`` layout). A file is accepted only if its IDX header is right (magic
2051 for images / 2049 for labels, the split's count, 28x28 images) and the MD5 of its
*uncompressed* bytes is the canonical one. The MD5 of the ``.gz`` bytes is deliberately not
checked: gzip streams of the same content differ between compressors, and the uncompressed
bytes are what matters.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .._cache import cache_root
from ._fetch import DataError, data_dir, fetch

__all__ = ["DataError", "load_mnist", "mnist_dir", "MIRRORS", "FILES"]

# name -> (magic, number of items, MD5 of the uncompressed bytes)
FILES = {
    "train-images-idx3-ubyte": (2051, 60000, "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": (2049, 60000, "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": (2051, 10000, "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": (2049, 10000, "27ae3e4e09519cfbb04c329615203637"),
}
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_ROWS = _COLS = 28
_TIMEOUT = 60.0


def mnist_dir(root: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """(directory holding the MNIST files, whether missing files may be downloaded there)."""
    return data_dir("MNIST", root)


def _fix_hint(path: Path) -> str:
    return (
        f"Delete {path} (it is downloaded again into the cache when HOGWILD_DATA is unset), "
        "or set HOGWILD_DATA to a directory whose MNIST/ folder holds the canonical files."
    )


def _decode(raw: bytes, path: str | Path, hint: str) -> bytes:
    """The uncompressed content of ``raw`` (read from ``path``): gunzipped if it is gzip."""
    if str(path).endswith(".gz"):
        try:
            return gzip.decompress(raw)
        except EOFError as err:
            raise DataError(
                f"{path}: truncated gzip file ({len(raw)} bytes; the stream ends early: "
                f"{err}). {hint}"
            ) from err
        except (OSError, zlib.error) as err:
            raise DataError(f"{path}: not a valid gzip file ({err}). {hint}") from err
    return raw


def _check_content(name: str, content: bytes, path: str | Path, hint: str) -> None:
    """Raise `DataError` unless ``content`` is the canonical uncompressed ``name``."""
    magic, count, md5 = FILES[name]
    header = 16 if magic == 2051 else 8
    if len(content) < header:
        raise DataError(
            f"{path}: only {len(content)} bytes after decompression, shorter than the "
            f"{header}-byte IDX header (truncated file). {hint}"
        )
    fields = struct.unpack(f">{header // 4}I", content[:header])
    if fields[0] != magic:
        what = {2051: "images", 2049: "labels"}
        raise DataError(
            f"{path}: IDX magic number {fields[0]} ({what.get(fields[0], 'not MNIST')}), "
            f"expected {magic} ({what[magic]}); this is not {name}. {hint}"
        )
    expected = (magic, count, _ROWS, _COLS) if magic == 2051 else (magic, count)
    if fields != expected:
        raise DataError(
            f"{path}: IDX header (magic, count{', rows, cols' if magic == 2051 else ''}) = "
            f"{fields}, expected {expected}; this is not {name}. {hint}"
        )
    size = header + count * (_ROWS * _COLS if magic == 2051 else 1)
    if len(content) != size:
        raise DataError(
            f"{path}: {len(content)} bytes after decompression, expected {size} "
            f"({'truncated' if len(content) < size else 'trailing data'}). {hint}"
        )
    digest = hashlib.md5(content).hexdigest()
    if digest != md5:
        raise DataError(
            f"{path}: MD5 checksum of the uncompressed content is {digest}, expected {md5} "
            f"(the file is corrupt or not the canonical MNIST). {hint}"
        )


def _download(name: str, directory: Path) -> Path:
    """Fetch ``name``.gz from the first mirror that serves a verified copy, atomically."""
    target = directory / f"{name}.gz"

    def check(path: Path, url: str) -> None:
        hint = "(rejected, not saved)"
        _check_content(name, _decode(path.read_bytes(), url, hint), url, hint)

    failures = []
    for mirror in MIRRORS:
        url = mirror + target.name
        try:
            return fetch(url, target, check)
        except DataError as err:
            failures.append(f"{url}: {err}")
    raise DataError(
        f"could not download {target.name} into {directory}:\n  "
        + "\n  ".join(failures)
        + "\nPut the canonical MNIST files in a directory D/MNIST/ and set HOGWILD_DATA=D."
    )


def _find(name: str, directory: Path, download: bool) -> Path:
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    if download:
        return _download(name, directory)
    raise DataError(
        f"{directory / (name + '.gz')} not found (nor the uncompressed {name}). Put the "
        "canonical MNIST files there, or point HOGWILD_DATA / root at the directory holding "
        "MNIST/, or unset HOGWILD_DATA to download them into the cache "
        f"({cache_root() / 'MNIST'})."
    )


def _read(name: str, path: Path) -> np.ndarray:
    hint = _fix_hint(path)
    content = _decode(path.read_bytes(), path, hint)
    _check_content(name, content, path, hint)
    magic, count, _ = FILES[name]
    if magic == 2051:
        return np.frombuffer(content, np.uint8, offset=16).reshape(count, _ROWS, _COLS)
    return np.frombuffer(content, np.uint8, offset=8)


@functools.lru_cache(maxsize=8)
def _load_cached(split: str, paths: tuple[Path, Path], stamps: tuple) -> tuple:
    del stamps  # part of the cache key only: a replaced file is read and checked again
    return tuple(_read(path.name.removesuffix(".gz"), path) for path in paths)


def load_mnist(split: str = "train", root: str | os.PathLike | None = None):
    """The MNIST ``split`` (``"train"``: 60000 images, ``"test"``: 10000) as read-only arrays.

    Args:
        split: ``"train"`` or ``"test"``.
        root: a data directory holding ``MNIST/``; default ``$HOGWILD_DATA``, else the
            download cache (see the module docstring).

    Returns:
        ``(images, labels)``: uint8 arrays of shapes (n, 28, 28) and (n,). They are shared
        by every caller (cached in memory per file set), hence read-only.

    Raises:
        DataError: a file is missing (and may not be downloaded), truncated, not gzip, or its
            header or uncompressed MD5 is wrong; the message names the file and the fix.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; valid: {', '.join(SPLITS)}.")
    directory, download = mnist_dir(root)
    paths = tuple(_find(name, directory, download).resolve() for name in SPLITS[split])
    stamps = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    return _load_cached(split, paths, stamps)
