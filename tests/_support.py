"""Helpers shared by the test files (not fixtures): where the staged datasets are, a
stand-in for the network, and a tiny Table 1 cell."""

from __future__ import annotations

import io
import os
import urllib.error
from pathlib import Path


def shared_data_root() -> Path:
    """$HOGWILD_DATA, else ../shared/data next to the repository (as .ci/run sets it)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get("HOGWILD_DATA") or default)


class FakeServer:
    """Stands in for urllib.request.urlopen: serves bytes by URL, or raises (an exception
    given as a response, or "no route to host" for an unknown URL); records the calls."""

    def __init__(self, responses: dict):
        self.responses, self.calls = responses, []

    def __call__(self, url, timeout=None):
        self.calls.append(url)
        answer = self.responses.get(url, urllib.error.URLError("no route to host"))
        if isinstance(answer, Exception):
            raise answer
        return io.BytesIO(answer)


def tiny_cell_protocol():
    """A Table 1 protocol small enough for a test: 2 folds × 1 seed of chains of 6 nodes,
    3 epochs."""
    from hogwild.experiments._table1 import Protocol

    return Protocol(
        "tiny",
        folds=2,
        seeds=1,
        epochs=3,
        patience=3,
        task_options={"chains": {"length": 6, "num_graphs": 6}},
    )
