"""Helpers shared by the test files (not fixtures): where the staged datasets are, a
stand-in for the network, a tiny Table 1 cell, and another process holding a directory."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest


def shared_data_root() -> Path:
    """$HOGWILD_DATA, else ../shared/data next to the repository (as .ci/run sets it)."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get("HOGWILD_DATA") or default)


def missing_data(message: str) -> None:
    """Skip a test whose dataset files are absent, or fail it when the run requires the
    data (``HOGWILD_REQUIRE_DATA=1``, as `.ci/run` sets it): CI never passes by skipping
    the dataset tests."""
    if os.environ.get("HOGWILD_REQUIRE_DATA") == "1":
        pytest.fail(f"{message}; HOGWILD_REQUIRE_DATA=1 requires it")
    pytest.skip(message)


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


#: Another process holding a directory with a plain flock, as a second hogwild would.
HOLDER = (
    "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
    "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()"
)
#: Another process asking whether it could take a directory: prints "free" or "busy".
PROBE = (
    "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY)\n"
    "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
    "except BlockingIOError:\n    print('busy')"
)


@contextlib.contextmanager
def held_elsewhere(directory):
    """While the block runs, another process holds ``directory`` (made if missing), as a
    second hogwild would; its lock ends with it."""
    directory.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()  # however it ends, its lock ends with it
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()


def probe(directory) -> str:
    """Whether another process could take ``directory`` now: "free" or "busy"."""
    done = subprocess.run([sys.executable, "-c", PROBE, str(directory)], capture_output=True)
    return done.stdout.decode().strip()
