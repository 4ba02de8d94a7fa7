"""Benchmark: training processes side by side on one machine, pinned to a CPU each or not.

Run as ``python bench/cpus.py [--epochs 150] [--model energy-node]``; prints one
``name: value`` line per figure. Every figure is the seconds per epoch of ``hogwild train
--task chains`` (Newton solves, epochs 30 to the last, read from the run's history, so
neither start-up nor compilation counts), measured in this one run:

- ``epoch_s_alone``: one process, free to use every CPU;
- ``epoch_s_alone_pinned``: one process on one CPU;
- ``epoch_s_two_unpinned``: two processes at once, each free to use every CPU (the mean
  of the two);
- ``epoch_s_two_pinned``: two at once, each pinned to a CPU of its own
  (`hogwild._cpus.pin_to_cpu`, what ``--workers`` does);
- ``epoch_s_two_same_cpu``: two at once on the same CPU (time slicing);
- ``two_unpinned_over_pinned``: the price of not pinning.

Needs an otherwise idle machine with at least 2 CPUs; about 3 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import emit


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=150, help="epochs per run (default 150)")
    p.add_argument("--model", default="energy-node", help="model (default energy-node)")
    return p.parse_args(argv)


def _start(out: Path, cpu: int | None, args) -> subprocess.Popen:
    """A ``hogwild train`` process writing ``out``, pinned to ``cpu`` unless None."""
    command = [sys.executable, "-m", "hogwild.cli", "train", "--task", "chains"]
    command += ["--model", args.model, "--set", "energy_solver=newton", "--epochs"]
    command += [str(args.epochs), "--patience", str(args.epochs), "--lr", "0.003"]
    command += ["--checkpoint-every", "10", "--out", str(out), "--quiet"]
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    with open(out.with_suffix(".log"), "w") as log:
        return subprocess.Popen(command, preexec_fn=pin, stdout=log, stderr=subprocess.STDOUT)


def _epoch_seconds(out: Path) -> float:
    """Seconds per epoch from epoch 30 to the last, from the run's history."""
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    return (rows[-1]["seconds"] - rows[29]["seconds"]) / (len(rows) - 30)


def side_by_side(cpus: list[int | None], tmp: Path, name: str, args) -> float:
    """Mean seconds per epoch of ``len(cpus)`` runs started together."""
    outs = [tmp / f"{name}-{k}" for k in range(len(cpus))]
    procs = [_start(out, cpu, args) for out, cpu in zip(outs, cpus)]
    for proc, out in zip(procs, outs):
        if proc.wait() != 0:
            log = out.with_suffix(".log").read_text()
            raise SystemExit(f"hogwild train failed ({name}):\n{log}")
    return sum(_epoch_seconds(out) for out in outs) / len(outs)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.epochs < 60:
        raise SystemExit("--epochs must be at least 60")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("needs at least 2 CPUs")
    a, b = cpus[:2]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        side_by_side([None], tmp, "warm", args)  # fills the compilation cache
        figures = {
            "epoch_s_alone": [None],
            "epoch_s_alone_pinned": [a],
            "epoch_s_two_unpinned": [None, None],
            "epoch_s_two_pinned": [a, b],
            "epoch_s_two_same_cpu": [a, a],
        }
        found = {}
        for name, where in figures.items():
            found[name] = side_by_side(where, tmp, name, args)
            emit(name, found[name])
    emit("two_unpinned_over_pinned", found["epoch_s_two_unpinned"] / found["epoch_s_two_pinned"])


if __name__ == "__main__":
    main()
