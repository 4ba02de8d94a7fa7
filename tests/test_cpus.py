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
