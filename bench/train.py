"""Benchmark: training throughput (issue 11).

Run as ``python bench/train.py [--steps 20] [--seeds 10] [--skip-cli]``; prints one
``name: value`` line per figure.

- ``ignn_step_ms_4000`` / ``energy_edge_step_ms_4000``: median wall time of one
  `hogwild.train.train_step` (forward solve, implicit backward, Adam) on the graph the
  official IGNN code trains on: 40 chains x 100 nodes = 4,000 nodes (4,096 padded), IGNN
  with hidden 16 and kappa 0.9, the energy GNN with the paper's sizes (hidden 2, PICNNs
  (4, 4, 2) and (4, 4, 1)), float32 with the default mixed-precision solves. Steps run one
  after another from a cold start, each warm-started from the one before, as in training;
  the median of ``--steps`` steps after the first (which compiles).
- ``vmap_speedup_10_<model>``: ``--seeds`` seeded models trained one after another
  (`hogwild.train.train_step`, one compiled step called per seed) divided by the same
  seeds in one `group_train_step` program (what ``hogwild train --seeds`` and
  ``reproduce table1`` run), 10 steps on the chains task's training batch (12 chains x
  100); ``vmap_max_rel_diff_<model>`` compares the parameters both ways reach, and
  ``vmap_slowest_over_mean_solve_steps_<model>`` is the slowest member's forward solve
  steps over the members' mean (a vmapped solver loop runs to the slowest member).
- ``workers_throughput_2``: 4 energy-edge chains runs of 400 epochs (not stacked) trained
  in one process, divided by the same 4 in two worker processes (`RunsOptions.workers`;
  ``hogwild train --seeds ... --workers 2``); ``workers_one_process_s`` the former.
- ``newton_stack_speedup_<N>`` (only with ``--newton-stack N``): N chains runs of the
  node-wise energy GNN under Newton (the paper protocol's lr 0.002, chains folds 0..N-1 as
  data seeds, ``--newton-epochs`` epochs, 300) trained one by one, divided by the same N
  stacked into one program (as session 39 stacked them; no longer the default), end to end;
  ``newton_one_by_one_s`` and ``newton_stacked_s`` the two wall times, each after an
  untimed pass that compiles. ``newton_stack_epoch_speedup_<N>``: the same ratio for the
  steady per-epoch cost alone (from each run's history, epochs past the first fifth),
  which is what a 5,000-epoch run pays; ``newton_one_by_one_ms_per_run_epoch`` and
  ``newton_stacked_ms_per_run_epoch`` its two sides. Short runs favour stacking: each
  run's setup and final evaluation is paid once per group instead of once per run.
- ``one_run_group_over_fit`` (only with ``--one-run``): steady seconds per epoch of one
  chains run of the edge-wise energy GNN under L-BFGS (the paper protocol's lr 0.002,
  ``--newton-epochs`` epochs) trained as a group of one (`fit_group`, a vmap over one
  member: what `train_runs` did with every unstacked run before session 40) over the
  same run trained by `fit`; ``one_run_fit_ms_per_epoch`` and
  ``one_run_group_ms_per_epoch`` its two sides, each after an untimed pass that compiles.
- ``padding_fraction_<task>``: padded nodes / all nodes of the Table 1 (reduced protocol)
  batches with the 1.25x buckets, and ``..._pow2`` with the earlier power-of-two buckets.
- ``second_run_compile_s``: seconds XLA spent compiling programs that were not in the
  cache, in the second of two identical ``hogwild train`` commands sharing a fresh
  compilation cache; ``second_run_load_s`` (reading cached programs),
  ``second_run_trace_lower_s`` (tracing and lowering, never cached),
  ``second_run_cache_hits`` of ``second_run_programs``; the same for ``first_run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.random as jr
from _common import emit


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20, help="timed training steps (default 20)")
    p.add_argument("--seeds", type=int, default=10, help="runs in the vmap figure (default 10)")
    p.add_argument("--skip-cli", action="store_true", help="skip the compile-cache figure")
    p.add_argument("--only-workers", action="store_true", help="only the workers figure")
    p.add_argument("--newton-stack", type=int, metavar="N", help="only the Newton-stack figure")
    p.add_argument("--newton-epochs", type=int, default=300, help="epochs per run of those figures")
    p.add_argument("--one-run", action="store_true", help="only the one-run figure")
    return p.parse_args(argv)


def _setup(task, model_name, task_options, model=None):
    """(model, opt_state, setup, batches) of a freshly initialised run."""
    from hogwild.tasks import make_task
    from hogwild.train import RunConfig, TrainConfig
    from hogwild.train._fit import _setup as fit_setup
    from hogwild.train._fit import initial_state
    from hogwild.train._run import build_model, model_spec

    config = RunConfig(task, model_name, task_options)
    data = make_task(task, config.task_config())
    model = build_model(model_spec(config, data), 0) if model is None else model(data)
    state = initial_state(model, data, TrainConfig())
    return state, fit_setup(state.model, data, TrainConfig()), data


def step_ms(model_name, steps, model=None) -> float:
    """Median ms of one training step on all 40 chains x 100 nodes in one batch."""
    from hogwild.train import make_batch, train_step

    state, setup, data = _setup("chains", model_name, {"num_graphs": 40, "length": 100}, model)
    batch = make_batch([*data.train, *data.validation, *data.test], data.level)
    shape = (batch.graph.num_nodes, state.model.hidden)
    m, opt, h = state.model, state.opt_state, jnp.zeros(shape, batch.graph.nodes.dtype)
    times = []
    for k in range(steps + 1):
        t0 = time.perf_counter()
        out = train_step(m, opt, batch, h, setup.optimiser, setup.kind, setup.solver, setup.adjoint)
        jax.block_until_ready(out.loss)
        if k:
            times.append(time.perf_counter() - t0)
        m, opt, h = out.model, out.opt_state, out.states
    return 1e3 * statistics.median(times)


def _ignn16(data):
    from hogwild.models._fixed_point import IGNN
    from hogwild.train import cast_model

    model = IGNN(data.in_size, data.out_size, hidden=16, kappa=0.9, key=jr.PRNGKey(0))
    return cast_model(model, "float32")  # built under x64: float32 as `hogwild train` does


def vmap_speedup(model_name, seeds, steps):
    """(sequential / grouped wall time, max relative parameter difference, slowest member's
    forward steps / mean member's) for ``steps`` training steps of ``seeds`` runs."""
    from hogwild.train import RunConfig, TrainConfig, train_step
    from hogwild.train._fit import initial_state
    from hogwild.train._group import member, stack
    from hogwild.train._run import build_model, model_spec
    from hogwild.train._step import group_train_step

    _, setup, data = _setup("chains", model_name, {})
    spec = model_spec(RunConfig("chains", model_name), data)
    states = [initial_state(build_model(spec, s), data, TrainConfig()) for s in range(seeds)]
    batch, fixed = setup.train[0], (setup.optimiser, setup.kind, setup.solver, setup.adjoint)

    def one(model, opt, h):
        out = train_step(model, opt, batch, h, *fixed)
        return out.model, out.opt_state, out.states

    def many(models, opts, h, active):
        out = group_train_step(models, opts, batch, h, active, *fixed)
        return out.model, out.opt_state, out.states, out.forward.steps

    starts = [(s.model, s.opt_state, s.train_states[0]) for s in states]
    runs = list(starts)
    jax.block_until_ready(one(*runs[0]))
    t0 = time.perf_counter()
    for k, run in enumerate(runs):
        for _ in range(steps):
            run = one(*run)
        runs[k] = jax.block_until_ready(run)
    sequential = time.perf_counter() - t0
    stacked = tuple(stack([start[i] for start in starts]) for i in range(3))
    active = jnp.ones(seeds, bool)
    jax.block_until_ready(many(*stacked, active))
    t0, ratios = time.perf_counter(), []
    for _ in range(steps):
        *stacked, forward_steps = many(*stacked, active)
        ratios.append(float(jnp.max(forward_steps) / jnp.maximum(jnp.mean(forward_steps), 1)))
    stacked = jax.block_until_ready(stacked)
    grouped = time.perf_counter() - t0
    diff = 0.0
    for k, run in enumerate(runs):
        a = jax.flatten_util.ravel_pytree(eqx.filter(run[0], eqx.is_inexact_array))[0]
        b = jax.flatten_util.ravel_pytree(eqx.filter(member(stacked[0], k), eqx.is_inexact_array))[
            0
        ]
        diff = max(diff, float(jnp.linalg.norm(a - b) / jnp.linalg.norm(a)))
    return sequential / grouped, diff, statistics.mean(ratios)


def workers_throughput(model_name: str, runs: int, epochs: int) -> tuple[float, float]:
    """(wall seconds of ``runs`` chains runs of ``epochs`` epochs in one process / the same
    in two worker processes, the one-process seconds); compilation is in both, loaded from
    a warm persistent cache (one run trains first to fill it)."""
    from hogwild.train import RunConfig, RunsOptions, TrainConfig, train_runs

    configs = [
        RunConfig("chains", model_name, {}, TrainConfig(epochs=epochs, seed=s)) for s in range(runs)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        train_runs(configs[:1], [f"{tmp}/warm"], RunsOptions(stack=False))
        seconds = []
        for workers in (1, 2):
            outs = [f"{tmp}/w{workers}-{k}" for k in range(runs)]
            t0 = time.perf_counter()
            train_runs(configs, outs, RunsOptions(stack=False, workers=workers))
            seconds.append(time.perf_counter() - t0)
    return seconds[0] / seconds[1], seconds[0]


def epoch_seconds(out: str) -> float:
    """Steady wall seconds per epoch of the run in ``out``, from its history: the slope
    between the end of the first fifth of its epochs and its last epoch."""
    with open(f"{out}/history.jsonl") as f:
        return history_slope([json.loads(line) for line in f])


def history_slope(history: list[dict]) -> float:
    """Steady wall seconds per epoch of a history (`epoch_seconds`' slope)."""
    first, last = history[len(history) // 5], history[-1]
    return (last["seconds"] - first["seconds"]) / (last["epoch"] - first["epoch"])


def one_run(epochs: int) -> dict[str, float]:
    """Steady seconds per epoch of one L-BFGS energy run by `fit` and as a group of one."""
    from hogwild.tasks import make_task
    from hogwild.train import GroupHooks, RunConfig, TrainConfig, fit, fit_group
    from hogwild.train._run import build_model, model_spec

    config = TrainConfig(learning_rate=0.002, energy_solver="lbfgs", epochs=epochs)
    config = dataclasses.replace(config, patience=epochs)
    run = RunConfig("chains", "energy-edge", {}, config)
    data = make_task("chains", run.task_config())
    model = build_model(model_spec(run, data), config.seed)
    found = {}
    for _ in range(2):  # the first pass compiles
        found["fit"] = history_slope(fit(model, data, config).history)
        results = []
        fit_group([model], [data], config, GroupHooks(finished=lambda i, r: results.append(r)))
        found["group"] = history_slope(results[0].history)
    return found


def newton_stack(runs: int, epochs: int) -> dict[str, float]:
    """End-to-end seconds (``one_by_one``, ``stacked``) of ``runs`` chains energy-node runs
    under Newton, and the steady seconds per run and epoch of each way (``*_epoch``); each
    way runs once untimed first, so neither pays for compilation."""
    from hogwild.train import RunConfig, RunsOptions, TrainConfig, train_runs

    train = TrainConfig(learning_rate=0.002, energy_solver="newton", epochs=epochs)
    train = dataclasses.replace(train, patience=epochs)
    configs = [RunConfig("chains", "energy-node", {"seed": k}, train) for k in range(runs)]
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for timed in (False, True):
            for stack, name in ((False, "one_by_one"), (True, "stacked")):
                outs = [f"{tmp}/{timed}-{name}-{k}" for k in range(runs)]
                t0 = time.perf_counter()
                train_runs(configs, outs, RunsOptions(stack=stack))
                found[name] = time.perf_counter() - t0
        timed_runs = [f"{tmp}/True-one_by_one-{k}" for k in range(runs)]
        found["one_by_one_epoch"] = statistics.mean(epoch_seconds(out) for out in timed_runs)
        # a group's members share one clock: its epoch is every member's
        found["stacked_epoch"] = epoch_seconds(f"{tmp}/True-stacked-0") / runs
    return found


def padding(task, options, pow2: bool) -> float:
    from hogwild import graph as graph_module
    from hogwild.tasks import make_task
    from hogwild.train import RunConfig, make_batches

    data = make_task(task, RunConfig(task, task_options=options).task_config())
    saved = graph_module.bucket
    if pow2:
        graph_module.bucket = lambda n, minimum=8: max(
            minimum, 1 << max(0, int(n - 1).bit_length())
        )
    try:
        padded = real = 0
        for split in data.splits().values():
            for b in make_batches(split, data.level):
                padded += b.graph.num_nodes
                real += int(b.graph.node_mask.sum())
    finally:
        graph_module.bucket = saved
    return 1 - real / padded


_LISTENER = """
import collections, json, sys, jax
from hogwild.cli import main
seconds, events = collections.Counter(), collections.Counter()
jax.monitoring.register_event_duration_secs_listener(
    lambda event, value, **kw: seconds.update({event: value})
)
jax.monitoring.register_event_listener(lambda event, **kw: events.update([event]))
code = main(sys.argv[1:])
print("EVENTS", json.dumps({"seconds": seconds, "events": events}))
"""


def compile_events(cache: str, out: str) -> dict:
    """Seconds JAX spent per compilation stage, and cache hits, in one ``hogwild train``
    (3 epochs of the default model and task) with the compilation cache in ``cache``."""
    env = {**os.environ, "HOGWILD_CACHE": cache}
    cmd = [sys.executable, "-c", _LISTENER, "train", "--out", out, "--epochs", "3", "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    line = [x for x in done.stdout.splitlines() if x.startswith("EVENTS")][-1]
    return json.loads(line.split(" ", 1)[1])


def emit_compile_figures(prefix: str, found: dict) -> None:
    """``<prefix>_compile_s``: XLA compilation of programs not in the cache (JAX counts a
    cache hit's loading as backend compile time too, so loading is subtracted);
    ``_load_s``: reading cached programs; ``_trace_lower_s``: tracing and lowering to
    MLIR (Python, never cached); ``_cache_hits`` / ``_programs``."""
    sec, events = found["seconds"], found["events"]
    load = sec.get("/jax/compilation_cache/cache_retrieval_time_sec", 0.0)
    backend = sec.get("/jax/core/compile/backend_compile_duration", 0.0)
    trace = sec.get("/jax/core/compile/jaxpr_trace_duration", 0.0)
    lower = sec.get("/jax/core/compile/jaxpr_to_mlir_module_duration", 0.0)
    emit(f"{prefix}_compile_s", backend - load)
    emit(f"{prefix}_load_s", load)
    emit(f"{prefix}_trace_lower_s", trace + lower)
    emit(f"{prefix}_cache_hits", events.get("/jax/compilation_cache/cache_hits", 0))
    emit(f"{prefix}_programs", events.get("/jax/compilation_cache/compile_requests_use_cache", 0))


def main(argv=None) -> None:
    args = parse_args(argv)
    jax.config.update("jax_enable_x64", True)  # mixed precision, as `hogwild train` does
    from hogwild._cache import enable_compilation_cache

    enable_compilation_cache()  # workers load what this process compiled, as in the CLI
    if args.one_run:
        found = one_run(args.newton_epochs)
        emit("one_run_group_over_fit", found["group"] / found["fit"])
        emit("one_run_fit_ms_per_epoch", 1e3 * found["fit"])
        emit("one_run_group_ms_per_epoch", 1e3 * found["group"])
        return
    if args.newton_stack:
        n, found = args.newton_stack, newton_stack(args.newton_stack, args.newton_epochs)
        emit(f"newton_stack_speedup_{n}", found["one_by_one"] / found["stacked"])
        emit("newton_one_by_one_s", found["one_by_one"])
        emit("newton_stacked_s", found["stacked"])
        emit(f"newton_stack_epoch_speedup_{n}", found["one_by_one_epoch"] / found["stacked_epoch"])
        emit("newton_one_by_one_ms_per_run_epoch", 1e3 * found["one_by_one_epoch"])
        emit("newton_stacked_ms_per_run_epoch", 1e3 * found["stacked_epoch"])
        return
    ratio, alone = workers_throughput("energy-edge", 4, 400)
    emit("workers_throughput_2", ratio)
    emit("workers_one_process_s", alone)
    if args.only_workers:
        return
    emit("ignn_step_ms_4000", step_ms("ignn", args.steps, _ignn16))
    emit("energy_edge_step_ms_4000", step_ms("energy-edge", args.steps))
    for model in ("gcn", "ignn", "energy-edge"):
        speedup, diff, slowest = vmap_speedup(model, args.seeds, 10)
        emit(f"vmap_speedup_{args.seeds}_{model}", speedup)
        emit(f"vmap_max_rel_diff_{model}", diff)
        emit(f"vmap_slowest_over_mean_solve_steps_{model}", slowest)
    from hogwild.experiments._table1 import PROTOCOLS, TASK_ORDER

    for task in TASK_ORDER:
        options = PROTOCOLS["reduced"].task_options.get(task, {})
        if task == "mnist" and not os.environ.get("HOGWILD_DATA"):
            continue
        emit(f"padding_fraction_{task}", padding(task, options, pow2=False))
        emit(f"padding_fraction_{task}_pow2", padding(task, options, pow2=True))
    if not args.skip_cli:
        with tempfile.TemporaryDirectory() as tmp:
            emit_compile_figures("first_run", compile_events(tmp + "/cache", tmp + "/a"))
            emit_compile_figures("second_run", compile_events(tmp + "/cache", tmp + "/b"))
    print(json.dumps({"jax": jax.__version__}))


if __name__ == "__main__":
    main()
