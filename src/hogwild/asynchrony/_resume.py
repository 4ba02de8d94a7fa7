"""Checkpoints of a simulated run: hogwild inference that outlives its process.

A run of millions of simulated steps (Table 2 on a stiff trained energy: 3,000,000 steps,
an hour at the ~950 steps/s of one core, hours beside other jobs) may be killed before it
ends. `simulate` with a ``checkpoint``
path runs in segments of `SEGMENT_STEPS` steps and, every ``checkpoint_seconds``, writes the
whole loop state (`_Loop`: node states, views, histories, random key, residual checks) to
that path; a later call with the same path continues from it and gives the run an
uninterrupted call would have given. The file carries a fingerprint of the model, the
graph and every setting of the run but its time budget, so a checkpoint is never continued
by another run, while a run that ended on its budget (its final state is kept) goes on
under a larger one: the run a call with that budget from the start gives.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..train._checkpoint import CheckpointError, leaves_into, read_header, save_checkpoint

SEGMENT_STEPS = 20_000
"""Simulated steps between chances to save: one compiled call of `_advance` each."""

CHECKPOINT_SECONDS = 300.0
"""Default time between saves of a checkpointed run: at most 5 minutes are lost to a kill."""


def run_fingerprint(model, graph, h0, settings: dict) -> str:
    """SHA-256 of everything that decides a run: the model's and the graph's arrays (and
    ``h0``'s), the model's class and the run's ``settings`` (schedule, step, budget...)."""
    digest = hashlib.sha256()
    digest.update(type(model).__name__.encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for leaf in jax.tree_util.tree_leaves(eqx.filter((model, graph, h0), eqx.is_array)):
        array = np.asarray(leaf)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_run(path, loop, fingerprint: str) -> None:
    """Write ``loop`` atomically to ``path`` with the run's fingerprint; the header's meta
    holds the steps made, the checks made and the length of the check arrays (the budget
    in checks), which a continuation under another budget needs to read it back."""
    meta = {"steps": int(loop.carry.t), "checks": int(loop.c), "budget_checks": _budget(loop)}
    save_checkpoint(path, loop, {"simulation": fingerprint}, meta)


def resume_run(path, loop, fingerprint: str, legacy: str | None = None):
    """The loop state saved at ``path``, or ``loop`` (a run's start) when there is no file.

    The saved run may have had another time budget: its check arrays are cut or padded to
    ``loop``'s (the budget of this call), so a run that ended on a smaller budget goes on to
    this one. ``legacy``: the fingerprint an earlier version gave this run (it included the
    budget); a file saved under it was saved with this call's budget.

    Raises:
        CheckpointError: the file is corrupt, was saved by a run with another model,
            graph or settings (its fingerprint differs), or has already made more checks
            than this call's budget allows.
    """
    path = Path(path)
    if not path.is_file():
        return loop
    header, payload = read_header(path)
    if header["spec"] not in ({"simulation": fingerprint}, {"simulation": legacy}):
        raise CheckpointError(
            f"{path} holds another simulated run (its model, graph or settings differ); "
            "delete it to start this run afresh, or pass another checkpoint path."
        )
    meta = header.get("meta", {})
    skeleton = _with_budget(loop, meta.get("budget_checks", _budget(loop)))
    saved = leaves_into(path, header, payload, skeleton, header["spec"])
    if int(saved.c) > _budget(loop):
        raise CheckpointError(
            f"{path} holds a run already {int(saved.carry.t):,} steps in, past this call's "
            "time budget: pass a larger max_time (--max-time) to continue it."
        )
    return _with_budget(saved, _budget(loop))


def _budget(loop) -> int:
    """A loop's budget in residual checks (the length of its check arrays)."""
    return int(loop.times.shape[0])


def _with_budget(loop, checks: int):
    """``loop`` with check arrays of length ``checks``: cut, or padded with zeros (the
    entries a run never reached hold zeros from its start too)."""

    def fit(x):
        return x[:checks] if x.shape[0] >= checks else jnp.pad(x, (0, checks - x.shape[0]))

    arrays = (fit(loop.times), fit(loop.residuals))
    return eqx.tree_at(lambda run: (run.times, run.residuals), loop, arrays)
