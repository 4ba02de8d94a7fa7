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


def hogwild_neighbours(cpus: list[int] | None = None) -> dict[int, set[int]]:
    """Other hogwild processes that may run on ``cpus`` (default: this process's): PID ->
    the CPUs of ``cpus`` it may use. Empty where /proc is missing."""
    cpus = set(usable_cpus() if cpus is None else cpus)
    found = {}
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            theirs = os.sched_getaffinity(pid) & cpus
        except OSError:  # gone, or not ours to read
            continue
        if any(a.endswith(b"hogwild") for a in argv[:2]) and theirs:
            found[pid] = theirs
    return found


def unpinned_neighbours(cpus: list[int] | None = None) -> list[int]:
    """PIDs of other hogwild processes that may run on two or more of ``cpus`` (default:
    this process's), i.e. that thrash with this one if it is not pinned either."""
    return _unpinned(hogwild_neighbours(cpus))


def _unpinned(neighbours: dict[int, set[int]]) -> list[int]:
    return [pid for pid, theirs in neighbours.items() if len(theirs) > 1]


def least_shared_cpu(cpus: list[int], neighbours: dict[int, set[int]]) -> int:
    """The CPU of ``cpus`` that the fewest ``neighbours`` (`hogwild_neighbours`) may use
    (the first such)."""
    return min(cpus, key=lambda cpu: sum(cpu in theirs for theirs in neighbours.values()))


def pin_if_sharing(log) -> int | None:
    """Before JAX starts: when this process may use several CPUs and other hogwild
    processes run on them, pin it to the least shared one (`least_shared_cpu`) and say so
    in one line; return that CPU, else None. Unpinned beside busy pinned jobs, a process's
    XLA threads wait for partners those jobs keep descheduled: a 300 × 300 Cholesky took
    27 ms unpinned beside four pinned training jobs and 2.2 ms pinned, and a Newton
    solve's first step did not finish in 16 minutes (session 46). Unpinned neighbours
    also get `warn_if_sharing`'s warning."""
    cpus = usable_cpus()
    if len(cpus) < 2:
        return None
    neighbours = hogwild_neighbours(cpus)
    if not neighbours:
        return None
    cpu = least_shared_cpu(cpus, neighbours)
    pin_to_cpu(cpus.index(cpu))
    pids = ", ".join(map(str, sorted(neighbours)[:5]))
    log(
        f"other hogwild processes ({pids}) run on CPUs {', '.join(map(str, cpus))}: this one "
        f"runs on CPU {cpu} only, the least shared (unpinned beside them it would run up to "
        '30x slower; `taskset -c K` chooses; README, "Several jobs on one machine")'
    )
    unpinned = _unpinned(neighbours)
    if unpinned:
        _warn_unpinned(unpinned, log)
    return cpu


def warn_if_sharing(log) -> None:
    """One line through ``log`` when this process may use several CPUs and so may another
    hogwild process (both slow down up to 30x): say how to pin them."""
    if len(usable_cpus()) < 2:
        return
    others = unpinned_neighbours()
    if others:
        _warn_unpinned(others, log)


def _warn_unpinned(pids: list[int], log) -> None:
    shown = ", ".join(map(str, pids[:5]))
    log(
        f"warning: other hogwild processes ({shown}) share these CPUs unpinned; side by "
        "side each runs up to 30x slower: start each under `taskset -c K` (README, "
        '"Several jobs on one machine")'
    )
