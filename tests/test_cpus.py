"""One CPU per process (`hogwild._cpus`): every thread pinned, before and after the call;
worker processes take consecutive CPUs."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from hogwild import _cpus
from hogwild.train import _pool

_PROBE = """
import json, os, threading, time
from hogwild._cpus import pin_to_cpu, usable_cpus
os.sched_setaffinity(0, set(range(os.cpu_count())))
cpus = usable_cpus()
before = threading.Thread(target=time.sleep, args=(2,)); before.start()
cpu = pin_to_cpu({slot})
after = threading.Thread(target=time.sleep, args=(1,)); after.start()
def allowed(tid):
    return os.sched_getaffinity(tid)
tasks = [int(t) for t in os.listdir("/proc/self/task")]
print(json.dumps({{"cpus": cpus, "cpu": cpu, "threads": len(tasks),
                   "allowed": [sorted(allowed(t)) for t in tasks]}}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU affinity is Linux's")
@pytest.mark.parametrize("slot", [0, 3])
def test_pin_to_cpu_pins_every_thread_to_the_slot_th_cpu(slot):
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(slot=slot)], capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout)
    assert found["cpu"] == found["cpus"][slot % len(found["cpus"])]
    assert found["threads"] >= 3  # the main thread and both sleepers
    assert found["allowed"] == [[found["cpu"]]] * found["threads"]


def test_pin_to_cpu_refuses_a_negative_slot():
    with pytest.raises(ValueError, match="slot must be >= 0"):
        _cpus.pin_to_cpu(-1)


def test_worker_processes_take_consecutive_cpus(monkeypatch):
    slots = []
    monkeypatch.setattr(_cpus, "pin_to_cpu", lambda slot: slots.append(slot) or slot)
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    assert [_pool._pin_worker(counter) for _ in range(3)] == [0, 1, 2]
    assert slots == [0, 1, 2]


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.cpu_count() < 2,
    reason="needs Linux affinity and two CPUs",
)
def test_unpinned_hogwild_processes_are_found_and_pinned_ones_are_not(tmp_path):
    script = tmp_path / "hogwild"  # what the console script's argv[1] looks like
    script.write_text(
        "import os, sys, time\n"
        "os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(',')})\n"
        "time.sleep(30)\n"
    )
    every = frozenset(range(os.cpu_count()))
    started = {
        cpus: subprocess.Popen([sys.executable, str(script), ",".join(map(str, sorted(cpus)))])
        for cpus in (every, frozenset({min(every)}))
    }
    try:
        deadline = time.monotonic() + 20
        while any(os.sched_getaffinity(p.pid) != c for c, p in started.items()):
            assert time.monotonic() < deadline, "the fake processes never set their CPUs"
            time.sleep(0.05)
        found = _cpus.unpinned_neighbours(sorted(every))
        assert started[every].pid in found
        assert started[frozenset({min(every)})].pid not in found
    finally:
        for proc in started.values():
            proc.kill()
            proc.wait()


def test_warning_names_the_sharing_processes_only_when_this_one_is_unpinned(monkeypatch):
    monkeypatch.setattr(_cpus, "unpinned_neighbours", lambda: [4242])
    lines = []
    monkeypatch.setattr(_cpus, "usable_cpus", lambda: [0])
    _cpus.warn_if_sharing(lines.append)
    assert lines == []  # pinned: nothing to fear
    monkeypatch.setattr(_cpus, "usable_cpus", lambda: [0, 1])
    _cpus.warn_if_sharing(lines.append)
    assert len(lines) == 1 and "4242" in lines[0] and "taskset -c K" in lines[0]


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("3", "3")])
def test_importing_hogwild_keeps_openblas_to_one_thread_unless_told(given, expected):
    """`import hogwild` sets OPENBLAS_NUM_THREADS=1 (concurrent LAPACK calls from XLA's
    threads livelock a multithreaded OpenBLAS) and leaves a user's own value alone."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    code = "import os, hogwild; print(os.environ['OPENBLAS_NUM_THREADS'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_the_least_shared_cpu_is_the_one_fewest_neighbours_may_use():
    assert _cpus.least_shared_cpu([0, 1], {7: {0}, 8: {0}, 9: {0, 1}}) == 1
    assert _cpus.least_shared_cpu([0, 1, 2], {7: {0, 1, 2}}) == 0  # a tie: the first
    assert _cpus.least_shared_cpu([2, 3], {7: {3}}) == 2


def _fake_cpus(monkeypatch, usable, neighbours):
    pinned = []
    monkeypatch.setattr(_cpus, "usable_cpus", lambda: usable)
    monkeypatch.setattr(_cpus, "hogwild_neighbours", lambda cpus=None: neighbours)
    monkeypatch.setattr(_cpus, "pin_to_cpu", lambda slot: pinned.append(slot) or usable[slot])
    return pinned


@pytest.mark.parametrize(
    ("usable", "neighbours", "slot"),
    [
        ([0, 1], {}, None),  # alone: keeps every CPU
        ([1], {4242: {1}}, None),  # already pinned (taskset): left alone
        ([0, 1], {4242: {0}, 4343: {0}}, 1),  # beside jobs pinned to CPU 0: CPU 1
        ([2, 3], {4242: {2}, 4343: {3}, 4444: {3}}, 0),  # slot 0 of its own CPUs, CPU 2
    ],
)
def test_a_command_beside_other_hogwild_processes_pins_itself_to_the_least_shared_cpu(
    monkeypatch, usable, neighbours, slot
):
    pinned, lines = _fake_cpus(monkeypatch, usable, neighbours), []
    cpu = _cpus.pin_if_sharing(lines.append)
    if slot is None:
        assert (cpu, pinned, lines) == (None, [], [])
        return
    assert pinned == [slot] and cpu == usable[slot]
    assert len(lines) == 1 and f"runs on CPU {cpu} only" in lines[0]
    assert all(str(pid) in lines[0] for pid in neighbours)


def test_unpinned_neighbours_are_warned_of_after_pinning(monkeypatch):
    pinned, lines = _fake_cpus(monkeypatch, [0, 1], {4242: {0, 1}, 4343: {1}}), []
    assert _cpus.pin_if_sharing(lines.append) == 0 and pinned == [0]
    assert len(lines) == 2 and "4242" in lines[1] and "unpinned" in lines[1]
    assert "4343" not in lines[1]


@pytest.mark.parametrize(("workers", "pinned"), [(1, True), (2, False)])
def test_the_cli_pins_itself_unless_its_workers_take_the_cpus(monkeypatch, workers, pinned):
    import argparse

    from hogwild import cli

    calls = []
    monkeypatch.setattr(_cpus, "pin_if_sharing", lambda log: calls.append("pin"))
    monkeypatch.setattr(_cpus, "warn_if_sharing", lambda log: calls.append("warn"))
    cli._share_cpus(argparse.Namespace(workers=workers))
    assert calls == (["pin"] if pinned else ["warn"])


_PINS_ITSELF = """
import os
from hogwild._cpus import pin_if_sharing
os.sched_setaffinity(0, {0, 1})
lines = []
cpu = pin_if_sharing(lines.append)
print(cpu, sorted(os.sched_getaffinity(0)), len(lines))
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.cpu_count() < 2,
    reason="needs Linux affinity and two CPUs",
)
def test_a_process_beside_pinned_hogwild_jobs_moves_to_the_other_cpu(tmp_path):
    """End to end, with real affinities: fake hogwild jobs pinned to CPU 0, more than any
    hogwild process already on CPU 1; a fresh process free to use CPUs 0 and 1 pins itself
    to CPU 1 and says so once."""
    script = tmp_path / "hogwild"
    script.write_text("import os, time\nos.sched_setaffinity(0, {0})\ntime.sleep(30)\n")
    already = _cpus.hogwild_neighbours([0, 1]).values()
    count = lambda cpu: sum(cpu in theirs for theirs in already)  # noqa: E731
    jobs = [subprocess.Popen([sys.executable, str(script)]) for _ in range(count(1) - count(0) + 1)]
    try:
        deadline = time.monotonic() + 20
        while any(os.sched_getaffinity(job.pid) != {0} for job in jobs):
            assert time.monotonic() < deadline, "the fake jobs never pinned themselves"
            time.sleep(0.05)
        out = subprocess.run(
            [sys.executable, "-c", _PINS_ITSELF], capture_output=True, text=True, check=True
        )
    finally:
        for job in jobs:
            job.kill()
            job.wait()
    assert out.stdout.split() == ["1", "[1]", "1"]
