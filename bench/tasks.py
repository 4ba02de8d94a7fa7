"""Benchmark: time to build each task's dataset at its default (the paper's) sizes.

Run as ``python bench/tasks.py [--repeats 3] [--task NAME ...]``. Prints one
``name: value`` line per figure: ``make_<task>_s`` (median wall seconds of
``hogwild.tasks.make_task(name)`` over ``--repeats`` calls, after one untimed warm-up
call), ``make_<task>_best_s`` (the fastest call), and the size built, ``<task>_graphs``
and ``<task>_nodes``.

The tasks default to the synthetic ones (chains, counting, sums, coordinates); ``mnist``
reads its IDX files (or downloads them), so it runs only when asked for with
``--task mnist``. Calls are interleaved across tasks (a, b, a, b, ...) so that every task
sees the same load; the header and the last line print the load average, since these are
wall times on a shared machine. This replaces the wall-time assertion the test suite
used to make (``tests/test_tasks_synthetic.py::test_default_sizes_are_the_papers``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from _common import emit, load_note

from hogwild.tasks import TASKS, make_task

SYNTHETIC = ("chains", "counting", "sums", "coordinates")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="timed calls per task (default 3)")
    p.add_argument(
        "--task",
        action="append",
        choices=sorted(TASKS),
        help=f"task to time (repeatable; default: {', '.join(SYNTHETIC)})",
    )
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1; got {args.repeats}.")
    return args


def timed(names, repeats: int) -> dict[str, tuple[list[float], object]]:
    """Per task: the wall seconds of ``repeats`` interleaved calls and the dataset built."""
    datasets = {name: make_task(name) for name in names}  # warm-up (imports, caches)
    seconds = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            start = time.perf_counter()
            datasets[name] = make_task(name)
            seconds[name].append(time.perf_counter() - start)
    return {name: (seconds[name], datasets[name]) for name in names}


def main(argv=None) -> int:
    args = parse_args(argv)
    names = tuple(args.task or SYNTHETIC)
    print(
        f"# bench/tasks.py  tasks {', '.join(names)}  repeats {args.repeats}  {load_note()}",
        flush=True,
    )
    for name, (seconds, data) in timed(names, args.repeats).items():
        graphs = data.train + data.validation + data.test
        emit(f"make_{name}_s", statistics.median(seconds))
        emit(f"make_{name}_best_s", min(seconds))
        emit(f"{name}_graphs", len(graphs))
        emit(f"{name}_nodes", sum(g.num_nodes for g in graphs))
    print(f"# end  {load_note()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
