"""Downloads shared by the loaders: one URL into a file, atomically, checked before kept."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from .._cache import cache_root

TIMEOUT = 60.0


class DataError(ValueError):
    """A dataset file that is missing, truncated or not the expected content; the message
    names the file, the problem and how to fix it."""


def data_dir(folder: str, root: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """(directory holding a dataset's files, whether missing files may be downloaded
    there): ``<root>/FOLDER``, else ``$HOGWILD_DATA/FOLDER``, else the download cache
    ``cache_root()/FOLDER`` (the only place a loader downloads into)."""
    if root is not None:
        return Path(root) / folder, False
    if os.environ.get("HOGWILD_DATA"):
        return Path(os.environ["HOGWILD_DATA"]) / folder, False
    return cache_root() / folder, True


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of the file at ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, target: Path, check: Callable[[Path, str], None]) -> Path:
    """Download ``url`` to ``target`` atomically: into a temporary file beside it, then
    ``check(tmp_path, url)`` (raises `DataError` to refuse it), then renamed into place.
    A refused or interrupted download leaves nothing behind.

    Raises:
        DataError: the download failed or ``check`` refused it; names the URL.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT) as src:
            shutil.copyfileobj(src, out)
        check(Path(tmp), url)
        os.replace(tmp, target)
        return target
    except OSError as err:  # URLError and HTTPError are OSErrors
        raise DataError(f"could not download {url}: {err}") from err
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def extract_member(archive: zipfile.ZipFile, member: str, target: Path) -> Path:
    """Write ``member`` of ``archive`` to ``target`` through a temporary file beside it, so
    an interrupted extraction never leaves a half-written file under the real name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, archive.open(member) as src:
            shutil.copyfileobj(src, out)
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
