"""Run directories are never silently replaced: a new run needs an empty (or new)
directory, ``overwrite`` clears what an earlier run wrote, ``resume`` continues a run of
the same configuration. Every check runs before any expensive work."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from ._checkpoint import HELD, TMP_SUFFIX, lock_directory, read_header, remove_orphaned_temporaries

MODES = ("new", "overwrite", "resume")

RUN_FILES = (
    "config.json",
    "checkpoint.eqx",
    "state.eqx",
    "metrics.json",
    "history.jsonl",
    "training.png",
    "evaluation.json",
    "starts.json",
)
RUN_PATTERNS = ("async-*.json", "async-*.png", "start-*.eqx", f".*{TMP_SUFFIX}")
"""Everything `train`, `evaluate` and `async` write into a run directory."""


class RunDirError(ValueError):
    """A run directory that cannot be used as asked (exists, differs, not writable...)."""


class RunDirBusy(RunDirError):
    """A run directory another process is training in."""


def hold_run_dir(out) -> bool:
    """Hold run directory ``out`` (made if missing) for this process's training: an
    exclusive lock on the directory itself, released by `release_run_dir` or when the
    process ends however it ends (a killed run never leaves a stale lock), so two
    processes never train in one directory. True when this process holds it (already or
    now), False when another one does."""
    key = Path(out).resolve()
    if key in HELD:
        return True
    key.mkdir(parents=True, exist_ok=True)
    fd = lock_directory(key, blocking=False)
    if fd is None:
        return False
    HELD[key] = fd
    return True


def release_run_dir(out) -> None:
    """Stop holding ``out`` (`hold_run_dir`); nothing if this process does not hold it."""
    fd = HELD.pop(Path(out).resolve(), None)
    if fd is not None:
        os.close(fd)


def held_elsewhere(out) -> bool:
    """Whether another process holds run directory ``out`` (`hold_run_dir`) right now."""
    out = Path(out)
    if not out.is_dir() or out.resolve() in HELD:
        return False
    fd = lock_directory(out, blocking=False)
    if fd is None:
        return True
    os.close(fd)
    return False


def run_progress(out) -> str:
    """Where the run in ``out`` stands, in words: "training elsewhere" (another process
    holds it), "finished" (its metrics written), "resumable" (a saved training state) or
    "not started"; with the epoch its saved state reached, where there is one."""
    out = Path(out)
    epoch = _saved_epoch(out)
    if held_elsewhere(out):
        state = "training elsewhere"
    elif run_finished(out):
        return "finished"
    elif epoch is None:
        return "not started"
    else:
        state = "resumable"
    return state if epoch is None else f"{state} (epoch {epoch})"


def run_finished(out: Path) -> bool:
    """Whether the run in ``out`` finished: its metrics written, not interrupted."""
    stop = saved_stop(out) if (out / "metrics.json").is_file() else None
    return stop is not None and not stop.startswith("interrupted")


def _saved_epoch(out: Path) -> int | None:
    if not (out / "state.eqx").is_file():
        return None
    return read_header(out / "state.eqx")[0].get("meta", {}).get("epoch")


@contextlib.contextmanager
def held_run_dirs(outs):
    """Hold every directory of ``outs`` (`hold_run_dir`) for the block and release those
    it took; raises `RunDirBusy` for the first one another process holds. A path that is
    a file or cannot be made is left to `claim_run_dir` to refuse."""
    taken = []
    try:
        for out in map(Path, outs):
            held = out.resolve() in HELD
            try:
                free = hold_run_dir(out)
            except OSError:
                continue
            if not free:
                raise RunDirBusy(
                    f"{out} is in use: another process is training in it; wait for it to "
                    "finish or choose another directory."
                )
            if not held:
                taken.append(out)
        yield
    finally:
        for out in taken:
            release_run_dir(out)


def _ensure_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test.", suffix=TMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise RunDirError(f"cannot write run directory {out}: {err.strerror or err}.") from None


def _clear(out: Path) -> None:
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for pattern in RUN_PATTERNS:
        for path in out.glob(pattern):
            path.unlink(missing_ok=True)


def _flatten(obj: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


#: Training options added after runs were saved without them, with the value those runs
#: used (energy_solver: every run before the option trained with L-BFGS; one start; no
#: gradient clipping, no spike guard).
SAVED_BEFORE = {
    "energy_solver": "lbfgs",
    "starts": 1,
    "start_epochs": 300,
    "coupled_weight_decay": False,
    "clip_norm": None,
    "spike_guard": None,
}


def with_saved_defaults(saved: dict) -> dict:
    """A saved config JSON with `SAVED_BEFORE` filled in where its ``train`` lacks them."""
    return {**saved, "train": {**SAVED_BEFORE, **saved.get("train", {})}}


def config_differences(saved: dict, given: dict) -> list[str]:
    """``key (saved A, given B)`` for every option that differs between two config JSONs."""
    a, b = _flatten(saved), _flatten(given)
    shown = lambda d, k: repr(d[k]) if k in d else "not set"  # noqa: E731
    return [
        f"{k} (saved {shown(a, k)}, given {shown(b, k)})"
        for k in sorted(set(a) | set(b))
        if (k in a, a.get(k)) != (k in b, b.get(k))  # a missing option differs from None
    ]


def saved_stop(out: Path) -> str | None:
    """Why the run in ``out`` stopped according to its training state, None while (or if
    killed while) training; "finished" for a finished run without a training state."""
    if (out / "state.eqx").is_file():
        return read_header(out / "state.eqx")[0].get("meta", {}).get("stopped")
    return "finished" if (out / "metrics.json").is_file() else None


def evaluation_pending(out: Path) -> str | None:
    """Why training stopped, for a run in ``out`` whose training finished (state.eqx says so)
    but whose final evaluation never wrote ``metrics.json`` (the process was killed between
    the two); None for any other run. Resuming such a run only evaluates it."""
    if not (out / "state.eqx").is_file() or (out / "metrics.json").is_file():
        return None
    stopped = saved_stop(out)
    return None if stopped is None or stopped.startswith("interrupted") else stopped


def saved_differences(out: Path, config_json: dict) -> list[str]:
    """`config_differences` between the run saved in ``out`` (its config.json, with
    `SAVED_BEFORE` filled in) and ``config_json``."""
    saved = with_saved_defaults(json.loads((out / "config.json").read_text()))
    return config_differences(saved, json.loads(json.dumps(config_json)))


def _check_resumable(out: Path, config_json: dict) -> None:
    if not (out / "config.json").is_file():
        raise RunDirError(f"--resume: {out} holds no run (no config.json); nothing to resume.")
    differences = saved_differences(out, config_json)
    if differences:
        raise RunDirError(
            f"--resume: the run in {out} was made with other options: {'; '.join(differences)}. "
            "Resume with the same options (or none), or train into a new --out."
        )
    if run_finished(out):
        raise RunDirError(
            f"--resume: the run in {out} has finished ({saved_stop(out)}); nothing to resume "
            "(--overwrite trains it again)."
        )


def claim_run_dir(out, config_json: dict, mode: str = "new") -> Path:
    """Make ``out`` ready for a run of ``config_json`` (a `RunConfig.to_json()`) in
    ``mode``; raises `RunDirError` naming the problem, before any work is done.

    new: ``out`` must not exist or be empty. overwrite: the files of an earlier run are
    deleted (other files are left alone). resume: ``out`` must hold an unfinished or
    interrupted run of the same configuration. Temporaries of killed writes are removed.
    """
    if mode not in MODES:
        raise ValueError(f"unknown run mode {mode!r}; valid: {', '.join(MODES)}.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file, not a directory.")
    if mode == "new" and out.is_dir() and any(out.iterdir()):
        what = "holds a run" if (out / "config.json").exists() else "is not empty"
        raise RunDirError(
            f"--out {out} {what}; pass --overwrite to replace it, --resume to continue it, "
            "or choose another directory."
        )
    if mode == "resume":
        _check_resumable(out, config_json)
    _ensure_writable(out)
    if mode == "overwrite":
        _clear(out)
    remove_orphaned_temporaries(out)
    return out
