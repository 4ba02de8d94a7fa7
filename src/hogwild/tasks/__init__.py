"""Tasks: seeded datasets with their kind of target, behind one registry."""

from __future__ import annotations

from ._base import Dataset as Dataset
from ._base import split_indices as split_indices
from .chains import ChainsConfig as ChainsConfig
from .chains import make_chains as make_chains

TASKS = {"chains": (ChainsConfig, make_chains)}


def make_task(name: str, config=None) -> Dataset:
    """Build the named task's dataset from its config (the task's defaults when None)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(sorted(TASKS))}.")
    config_cls, make = TASKS[name]
    return make(config_cls() if config is None else config)
