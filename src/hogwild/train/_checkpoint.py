"""Checkpoints: one self-checking file, written atomically.

Layout: a magic line, one JSON header line (model spec, dtype, payload length and
SHA-256), then the Equinox-serialised leaves. Loading verifies the magic, the checksum
and that the stored spec matches what the caller expects, and otherwise raises
`CheckpointError` saying which.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import equinox as eqx

MAGIC = b"HOGWILD-CHECKPOINT 1\n"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or for a different model."""


TMP_SUFFIX = ".tmp"
"""Temporary files of `write_atomic` are ``.NAME.<random>.tmp`` beside their target."""


def _file_mode() -> int:
    """0o666 less the process umask: what `open` would give a new file (mkstemp gives 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and `os.replace` (never half-written;
    a process killed mid-write leaves the old file and an orphan that
    `remove_orphaned_temporaries` deletes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_orphaned_temporaries(directory) -> list[Path]:
    """Delete the temporary files a killed `write_atomic` left in ``directory``."""
    orphans = sorted(Path(directory).glob(f".*{TMP_SUFFIX}"))
    for orphan in orphans:
        orphan.unlink(missing_ok=True)
    return orphans


def write_json(path, obj) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def lock_directory(directory, blocking: bool = True) -> int | None:
    """An open descriptor of ``directory`` holding an exclusive `flock` on it (released
    when the descriptor is closed or the process ends, however it ends); None when another
    process holds it and not ``blocking``. On a filesystem without locks (flock fails
    otherwise, e.g. ENOLCK on some network mounts) the descriptor holds none: work goes on
    unlocked, as it did before locks, rather than stopping."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        pass
    return fd


#: Directories this process holds (`holding`, `hold_run_dir`): resolved path -> the
#: descriptor holding its lock. Writing into one of them (`append_json_line`) takes no
#: second lock, which would wait for this very process (a `flock` belongs to a descriptor).
HELD: dict[Path, int] = {}


class DirectoryBusy(RuntimeError):
    """A directory another process holds (`holding`)."""


@contextlib.contextmanager
def holding(directory, busy=None):
    """Hold ``directory`` (made if missing) for the block, as `lock_directory` does, and
    register it in `HELD`. While another process holds it, ``busy()`` is called (None:
    raise `DirectoryBusy`); if it returns, this waits for the holder. A directory removed
    and remade while this waited is locked afresh (the lock belongs to the old inode)."""
    key = Path(directory).resolve()
    if key in HELD:
        yield
        return
    fd = _lock_current(key, busy)
    HELD[key] = fd
    try:
        yield
    finally:
        del HELD[key]
        os.close(fd)


def _lock_current(key: Path, busy) -> int:
    """`holding`'s lock on the directory now at ``key``."""
    said = False
    while True:
        key.mkdir(parents=True, exist_ok=True)
        fd = lock_directory(key, blocking=False)
        if fd is None:
            if busy is None:
                raise DirectoryBusy(f"{key} is held by another process.")
            if not said:
                busy()
                said = True
            fd = lock_directory(key)
        if _same_inode(fd, key):
            return fd
        os.close(fd)


def _same_inode(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


@contextlib.contextmanager
def _directory_locked(directory):
    if Path(directory).resolve() in HELD:
        yield
        return
    fd = lock_directory(directory)
    try:
        yield
    finally:
        os.close(fd)


def append_json_line(path, obj) -> None:
    """Append ``obj`` as one JSON line; the file is rewritten atomically, so a crash leaves
    either the old lines or the old lines plus this one, and under a lock on its directory,
    so processes appending to one file side by side (two ``hogwild reproduce`` of one
    table) never lose each other's lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _directory_locked(path.parent):
        previous = path.read_text() if path.is_file() else ""
        write_atomic(path, (previous + json.dumps(obj) + "\n").encode())


def read_json_lines(path) -> list[dict]:
    """The objects of a JSON-lines file (`append_json_line`), [] when there is none."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save_checkpoint(path, model, spec: dict, meta: dict | None = None) -> None:
    """Save ``model``'s leaves (any pytree) with ``spec`` (everything needed to rebuild its
    skeleton) and optional JSON ``meta`` (read back with `read_header`)."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    payload = buffer.getvalue()
    header = {"spec": spec, "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    if meta is not None:
        header["meta"] = meta
    write_atomic(path, MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload)


def read_header(path) -> tuple[dict, bytes]:
    """The header and payload of a checkpoint, checked against its checksum."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}.")
    raw = path.read_bytes()
    if not raw.startswith(MAGIC):
        raise CheckpointError(f"{path} is not a hogwild checkpoint (bad magic line).")
    line, _, payload = raw[len(MAGIC) :].partition(b"\n")
    try:
        header = json.loads(line)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is corrupt: unreadable header ({err}).") from err
    if len(payload) != header.get("bytes") or hashlib.sha256(payload).hexdigest() != header.get(
        "sha256"
    ):
        raise CheckpointError(f"{path} is corrupt or truncated: checksum mismatch.")
    return header, payload


def load_checkpoint(path, skeleton, spec: dict):
    """Load leaves into ``skeleton`` (a model built from ``spec``) after checking the spec."""
    return leaves_into(path, *read_header(path), skeleton, spec)


def leaves_into(path, header: dict, payload: bytes, skeleton, spec: dict):
    """The checkpoint ``payload`` (with its ``header``, from `read_header`) loaded into
    ``skeleton`` after checking that it was saved for ``spec``."""
    if header["spec"] != spec:
        diff = sorted(
            k for k in set(spec) | set(header["spec"]) if spec.get(k) != header["spec"].get(k)
        )
        raise CheckpointError(
            f"{path} was saved for a different model: {', '.join(diff)} differ "
            f"(saved {[header['spec'].get(k) for k in diff]}, "
            f"expected {[spec.get(k) for k in diff]})."
        )
    try:
        return eqx.tree_deserialise_leaves(io.BytesIO(payload), skeleton)
    except Exception as err:  # shapes/dtypes of leaves disagree
        raise CheckpointError(f"{path} does not fit the model: {err}") from err
