"""Checkpoints of a simulated run: hogwild inference that outlives its process.

A run of millions of simulated steps (Table 2 on a stiff trained energy: 3,000,000 steps,
an hour at the ~950 steps/s of one core, hours beside other jobs) may be killed before it
ends. `simulate` with a ``checkpoint``
path runs in segments of `SEGMENT_STEPS` steps and, every ``checkpoint_seconds``, writes the
whole loop state (`_Loop`: node states, views, histories, random key, residual checks) to
that path; a later call with the same path continues from it and gives the run an
uninterrupted call would have given. The file carries a fingerprint of the model, the
graph and every setting of the run, so a checkpoint is never continued by another run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import equinox as eqx
import jax
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
    """Write ``loop`` atomically to ``path`` with the run's fingerprint."""
    meta = {"steps": int(loop.carry.t), "checks": int(loop.c)}
    save_checkpoint(path, loop, {"simulation": fingerprint}, meta)


def resume_run(path, loop, fingerprint: str):
    """The loop state saved at ``path``, or ``loop`` (a run's start) when there is no file.

    Raises:
        CheckpointError: the file is corrupt, or was saved by a run with another model,
            graph or settings (its fingerprint differs).
    """
    path = Path(path)
    if not path.is_file():
        return loop
    header, payload = read_header(path)
    if header["spec"] != {"simulation": fingerprint}:
        raise CheckpointError(
            f"{path} holds another simulated run (its model, graph or settings differ); "
            "delete it to start this run afresh, or pass another checkpoint path."
        )
    return leaves_into(path, header, payload, loop, header["spec"])
