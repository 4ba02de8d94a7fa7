"""One CPU per process when several JAX processes share a machine.

XLA's CPU runtime sizes its thread pool from the CPUs a process may use when the backend
starts, and splits even small operations over it; a thread that finishes its part waits
(spinning) for the others. Two training processes side by side, each free to use both
cores of a 2-core machine, therefore keep descheduling each other's partners: measured
with ``python bench/cpus.py`` (chains, node-wise energy GNN, Newton solves), an epoch took
0.71–1.55 s in each against 0.047 s alone — 17–33x slower —, while the same two pinned to
one CPU each took 0.042–0.045 s, and both pinned to the *same* CPU 0.09 s (time slicing).
Switching Eigen's multithreading off (``XLA_FLAGS``) did not help (2.47 s). A process
pinned only after its backend started keeps a pool sized for two CPUs on one, and stays
slow (measured: 9 s per epoch until restarted): pin before the first JAX operation.

`pin_to_cpu` is what worker processes (`hogwild.train._pool`) and the test suite's
workers call first; for separate commands run side by side, start each under ``taskset
-c K`` (README, "Several jobs on one machine"). `warn_if_sharing` is the one-line warning
of ``train``, ``reproduce`` and ``async`` when another hogwild process may run unpinned
on the same CPUs.
"""

from __future__ import annotations

import os


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (all of them where affinity is not supported)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pin_to_cpu(slot: int) -> int | None:
    """Restrict this process to the ``slot``-th of its usable CPUs (modulo their number):
    every thread it has now and every thread it starts later. Returns that CPU, or None
    where affinity cannot be set (not Linux). Call it before the first JAX operation, so
    that XLA sizes its thread pool for one CPU."""
    if slot < 0:
        raise ValueError(f"slot must be >= 0; got {slot}.")
    cpus = usable_cpus()
    cpu = cpus[slot % len(cpus)]
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for thread in threads:
        try:
            os.sched_setaffinity(thread, {cpu})
        except OSError:  # a thread that ended meanwhile
            pass
    return cpu


def unpinned_neighbours(cpus: list[int] | None = None) -> list[int]:
    """PIDs of other hogwild processes that may run on two or more of ``cpus`` (default:
    this process's), i.e. that thrash with this one if it is not pinned either. Empty
    where /proc is missing."""
    cpus = set(usable_cpus() if cpus is None else cpus)
    found = []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            theirs = os.sched_getaffinity(pid)
        except OSError:  # gone, or not ours to read
            continue
        if any(a.endswith(b"hogwild") for a in argv[:2]) and len(theirs & cpus) > 1:
            found.append(pid)
    return found


def warn_if_sharing(log) -> None:
    """One line through ``log`` when this process may use several CPUs and so may another
    hogwild process (both slow down up to 30x): say how to pin them."""
    if len(usable_cpus()) < 2:
        return
    others = unpinned_neighbours()
    if others:
        pids = ", ".join(map(str, others[:5]))
        log(
            f"warning: other hogwild processes ({pids}) share these CPUs unpinned; side by "
            "side each runs up to 30x slower: start each under `taskset -c K` (README, "
            '"Several jobs on one machine")'
        )
