"""Benchmark: XLA's CPU compiler flags, compile time against run time.

Run as ``python bench/xla_flags.py [--steps 10] [--repeats 3] [--hang-after 240]``; prints
one ``name: value`` line per figure. Three settings of ``XLA_FLAGS``, each in fresh
processes (the flags are read when JAX starts) with ``HOGWILD_XLA_DEFAULTS=0`` and an empty
compilation cache, one after another:

- ``xla``: XLA's own defaults;
- ``hogwild``: ``--xla_cpu_use_fusion_emitters=false``, what ``import hogwild`` adds
  (`hogwild._xla`);
- ``tests``: that and ``--xla_cpu_parallel_codegen_split_count=1``, what the test suite
  adds (``tests/conftest.py``).

Timed processes are pinned to CPU 0 (as the test workers and ``--workers`` runs are), so
that the settings compare on the same core. For each setting, ``<figure>_<setting>``:

- ``compile_s``: seconds XLA spent compiling in ``hogwild train`` (3 epochs of the default
  model and task, `bench/train.py`'s ``compile_events``); ``compile_unoptimised_s`` the
  same with ``JAX_DISABLE_MOST_OPTIMIZATIONS=1``, as the tests compile; ``trace_lower_s``
  tracing and lowering (Python, the flags' business only through what they compile);
- ``energy_edge_step_ms_4000``, ``ignn_step_ms_4000``: one training step on 4,000 nodes
  (`bench/train.py`'s ``step_ms``, compilation excluded): run time;
- ``<model>_async_step_ms``: one simulated hogwild step (``python bench/async.py
  --no-stiff``, compilation excluded): run time;
- ``certify_unpinned_s``: seconds for `hogwild.asynchrony.certify` of a fresh edge-wise
  energy GNN on ``bench/async.py``'s float32 batch (64 chains x 100 nodes), compilation
  included, in a process free to use every CPU; ``hung`` if it has not finished in
  ``--hang-after`` seconds (with XLA's own flags its program never returned: every thread
  waiting, no CPU used).

and ``<figure>_<setting>_over_xla`` where both finished (below 1 is faster). Needs an
otherwise idle machine; about 20 minutes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import emit

from hogwild._xla import DEFAULTS, SERIAL_CODEGEN, with_defaults

HERE = Path(__file__).resolve().parent
SETTINGS = {
    "xla": "",
    "hogwild": with_defaults(""),
    "tests": with_defaults("", {**DEFAULTS, **SERIAL_CODEGEN}),
}
ASYNC = ("energy-edge_async_step_ms", "gsd_async_step_ms", "ignn_async_step_ms")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10, help="timed training steps (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="bench/async.py repeats (default 3)")
    p.add_argument("--hang-after", type=float, default=240.0, help="seconds (default 240)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--certify", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def worker(args) -> None:
    """In a process started with one setting: compile and training-step figures."""
    import train

    for name, unoptimised in (("compile_s", "0"), ("compile_unoptimised_s", "1")):
        os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = unoptimised
        with tempfile.TemporaryDirectory() as tmp:
            found = train.compile_events(str(Path(tmp) / "cache"), str(Path(tmp) / "run"))
        sec = found["seconds"]
        emit(name, sec.get("/jax/core/compile/backend_compile_duration", 0.0))
    del os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"]
    trace = sec.get("/jax/core/compile/jaxpr_trace_duration", 0.0)
    emit("trace_lower_s", trace + sec.get("/jax/core/compile/jaxpr_to_mlir_module_duration", 0.0))
    emit("energy_edge_step_ms_4000", train.step_ms("energy-edge", args.steps))
    emit("ignn_step_ms_4000", train.step_ms("ignn", args.steps, train._ignn16))


def certify_once() -> None:
    """In a process started with one setting: time one certificate (compilation included)."""
    import time

    import numpy as np
    from _common import chain_batch, to_dtype

    import hogwild
    from hogwild.asynchrony import Schedule, certify

    graph, _ = chain_batch(64, 100, dtype=np.float32)
    model = to_dtype(hogwild.make_model("energy-edge", 2, 0, 1, seed=0), np.float32)
    start = time.perf_counter()
    certify(model, graph, Schedule(4, 3, 0))
    emit("certify_unpinned_s", time.perf_counter() - start)


def _run(command, env, pinned: bool, timeout: float | None = None) -> list[str]:
    """stdout lines of ``command`` (pinned to CPU 0 or free); [] if it timed out."""
    pin = (lambda: os.sched_setaffinity(0, {0})) if pinned else None
    try:
        done = subprocess.run(
            command,
            env=env,
            preexec_fn=pin,
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return []
    return done.stdout.splitlines()


def measure(flags: str, args) -> dict[str, float | str]:
    """Every figure under one ``XLA_FLAGS`` value, from three fresh processes."""
    me = [sys.executable, str(HERE / "xla_flags.py")]
    lines = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "XLA_FLAGS": flags, "HOGWILD_XLA_DEFAULTS": "0"}
        env["HOGWILD_CACHE"] = cache
        lines += _run([*me, "--worker", "--steps", str(args.steps)], env, pinned=True)
        bench = [sys.executable, str(HERE / "async.py"), "--no-stiff"]
        lines += _run([*bench, "--repeats", str(args.repeats)], env, pinned=True)
        lines += _run([*me, "--certify"], env, pinned=False, timeout=args.hang_after)
    pairs = (line.split(": ", 1) for line in lines if ": " in line and not line.startswith("#"))
    found: dict[str, float | str] = {"certify_unpinned_s": "hung"}
    found |= {name: float(value) for name, value in pairs if _is_number(value)}
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    if args.certify:
        return certify_once()
    figures = ["compile_s", "compile_unoptimised_s", "trace_lower_s"]
    figures += ["energy_edge_step_ms_4000", "ignn_step_ms_4000"]
    figures += [*ASYNC, "certify_unpinned_s"]
    found = {}
    for setting, flags in SETTINGS.items():
        found[setting] = measure(flags, args)
        for name in figures:
            emit(f"{name}_{setting}", found[setting][name])
    for setting in ("hogwild", "tests"):
        for name in figures:
            ours, theirs = found[setting][name], found["xla"][name]
            if isinstance(ours, float) and isinstance(theirs, float):
                emit(f"{name}_{setting}_over_xla", ours / theirs)


if __name__ == "__main__":
    main()
