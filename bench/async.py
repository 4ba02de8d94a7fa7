"""Benchmark: cost of one simulated hogwild time step against one synchronous evaluation.

Run as ``python bench/async.py [--seed 0] [--repeats 5] [--chains 64] [--length 100]
[--stagger 4] [--delay 3] [--x64] [--no-stiff | --only-stiff | --only-block-jacobi
[--energy RUN ...]]``.
Prints one ``name: value``
line per figure.

Setup: a batch of ``--chains`` undirected path graphs of ``--length`` nodes (class one-hot
in node 0, ``bench/_common.chain_batch``), float32 unless ``--x64``; the registered models
``energy-edge``, ``gsd`` and ``ignn`` freshly initialised from ``--seed``
(``hogwild.make_model(name, 2, 0, 1)``); the schedule ``Schedule(stagger, delay, seed)``.

Async step: ``hogwild.asynchrony.simulate(model, graph, schedule, step_size=α, tol=0,
max_time=N, check_every=N)`` runs exactly N steps (α the certified step of the energies,
computed once). It is timed for N = ``SHORT`` and ``LONG`` and the step cost is the
difference over LONG − SHORT steps, so compilation (warm-up call), the host-side setup of
``simulate`` (reverse edges), the initial packets and residual checks cancel.

Sync evaluation: one ∇_H E (energies) or one F(H) (IGNN) with the H-independent part
``model.prepare(graph)`` computed once, as the synchronous solvers do. ``*_sync_eval_ms``
is measured the same way as the async step — the difference of jitted loops of SHORT and
LONG evaluations (H ← H − α∇E(H), or H ← F(H)) over LONG − SHORT — so both sides pay the
same per-iteration overheads; ``*_sync_call_ms`` is one jitted call (with dispatch).
The headline ``async_step_vs_sync_gradient`` (energy-edge) uses the loop figure.
``*_node_updates_per_second``: real-node updates in the extra LONG − SHORT steps
(``trace.updates``) per wall second of them. All calls are interleaved (a, b, a, b, ...)
and timed as medians of ``--repeats`` after a warm-up call.

Stiff energies (``bench/_stiff.py``, float64, skipped with ``--no-stiff``), counted in
simulated steps, not time:

- ``stiff_speedup_trained``: steps to ‖∇E‖ <= 1e-6 of plain steps (α = 1/K₁) over those of
  heavy-ball momentum (same α, the best β of ``--momenta``, printed as ``*_best_momentum``)
  on the trained quick-start energy; ``stiff_speedup_laplacian`` the same on a GSD-GNN with
  condition number ≈ 9e3 held entirely in the coupling between nodes.
- ``certified_step_ratio_*``: the largest step 2^k/K₁ that converged (seed 0, 400k steps)
  over the certified α_safe, on the trained energy, the Laplacian one (certified for any
  staleness: ``*_dominance_q`` < 1) and a fresh energy-edge model on a 24-regular graph
  (60 nodes); ``*_at_minimiser``: the same against a step certified with
  the constants at H* alone, to separate the bound's slack from the curvature at H = 0.
  ``*_largest_convergent_step`` is NaN when not even 1/K₁ converged within 400k steps.
- ``momentum_gain_over_largest_plain_step_*``: plain steps at that largest convergent step
  (``*_largest_plain_step_steps``) over the best momentum run's. ``stiff_speedup`` compares
  against α = 1/K₁, and K₁ (a bound over H* and 0) can be far above the curvature the
  run meets: on the trained quick-start energy plain steps at 16/K₁ converge 16 times
  faster than at 1/K₁, so most of momentum's "speedup" is a larger effective step
  α/(1 − β), which staleness caps just as it caps α.
- ``stiff_speedup_block_jacobi_<energy>`` (``--only-block-jacobi`` runs only these): plain
  steps at 1/K₁ over block-Jacobi steps (`simulate(precondition=True)`) at the best
  α ∈ ``BLOCK_STEPS`` (budget: the plain run's steps), on the trained quick-start energy
  and the Laplacian one, and on every trained run given with ``--energy RUN`` (named
  ``<task>_<model>``, e.g. the committed Table 2 instances of ``results/instances``);
  plain runs get ``PLAIN_BUDGET`` steps (``*_plain_converged`` says whether they made it;
  if not, the speedup is a lower bound); ``*_block_jacobi_seconds_per_step_over_plain`` the
  wall-time cost of a preconditioned step against a plain one, from the same runs;
  ``*_block_dominance_q`` and ``*_block_jacobi_certified_step`` its certificate.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _common import chain_batch, emit, load_note, timed_interleaved, to_dtype
from _stiff import (
    SCHEDULE,
    certificate,
    dense_energy,
    laplacian_energy,
    largest_convergent_step,
    run_energy,
    steps_to_tol,
    trained_energy,
)

import hogwild
from hogwild.asynchrony import Schedule, certify, simulate

SHORT, LONG = 200, 400
RATIO_TARGET = 1.5
SPEEDUP_TARGET = 20
BLOCK_STEPS = (0.5, 0.25, 0.125)  # 1.0 did not converge on the trained energy
PLAIN_BUDGET = 2_000_000  # plain steps at 1/K₁ on a Table 1 energy (κ ~ 1e4) run long
MODELS = ("energy-edge", "gsd", "ignn")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0, help="model and schedule seed (default 0)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per figure (default 5)")
    p.add_argument("--chains", type=int, default=64, help="chains in the batch (default 64)")
    p.add_argument("--length", type=int, default=100, help="nodes per chain (default 100)")
    p.add_argument("--stagger", type=int, default=4, help="stagger S (default 4)")
    p.add_argument("--delay", type=int, default=3, help="delay D (default 3)")
    p.add_argument("--x64", action="store_true", help="float64 instead of float32")
    p.add_argument("--momenta", default="0.5,0.8,0.9,0.95", help="heavy-ball betas to try")
    p.add_argument("--no-stiff", action="store_true", help="skip the stiff-energy figures")
    p.add_argument(
        "--only-stiff",
        action="store_true",
        help="only the stiff-energy figures (they count steps, not time: valid on a busy machine)",
    )
    p.add_argument(
        "--only-block-jacobi",
        action="store_true",
        help="only the block-Jacobi step counts on the stiff energies",
    )
    p.add_argument(
        "--energy",
        action="append",
        default=[],
        metavar="RUN",
        help="block-Jacobi figures also on this trained run's energy (repeatable), named "
        "<task>_<model>, e.g. results/instances/chains/energy-edge",
    )
    return p.parse_args(argv)


def sync_loop(model, graph, alpha):
    """Jitted ``once(h, p)`` (one evaluation) and ``loop(h, p, n)`` (n evaluations, each
    feeding the next), and ``p = model.prepare(graph)``."""
    prepared = model.prepare(graph)
    if model.family == "optimisation":
        grad = jax.grad(lambda h, p: model.energy(graph, h, p))

        def once(h, p):
            return grad(h, p)

        def body(h, p):
            return h - alpha * grad(h, p)
    else:

        def once(h, p):
            return model.fixed_point_map(graph, h, p)

        body = once

    @eqx.filter_jit
    def loop(h, p, n):
        return jax.lax.fori_loop(0, n, lambda _, x: body(x, p), h)

    return eqx.filter_jit(once), loop, prepared


def bench_model(name, graph, schedule, args, dtype):
    model = to_dtype(hogwild.make_model(name, 2, 0, 1, seed=args.seed), dtype)
    alpha = None
    if model.family == "optimisation":
        cert = certify(model, graph, schedule)
        alpha = cert.safe_step
        emit(f"{name}_step_size", alpha)
    once, loop, prepared = sync_loop(model, graph, 0.0 if alpha is None else alpha)
    h0 = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype)

    def run(n):
        return simulate(model, graph, schedule, step_size=alpha, tol=0.0, max_time=n, check_every=n)

    calls = [
        (run, (SHORT,)),
        (run, (LONG,)),
        (loop, (h0, prepared, SHORT)),
        (loop, (h0, prepared, LONG)),
        (once, (h0, prepared)),
    ]
    (short_s, short_tr, _), (long_s, long_tr, _), (ls_s, _, _), (ll_s, _, _), (call_s, _, _) = (
        timed_interleaved(calls, args.repeats)
    )
    assert int(short_tr.steps) == SHORT and int(long_tr.steps) == LONG
    steps = LONG - SHORT
    async_ms = 1e3 * (long_s - short_s) / steps
    sync_ms = 1e3 * (ll_s - ls_s) / steps
    real = np.asarray(graph.node_mask)
    extra_updates = int(
        np.asarray(long_tr.updates)[real].sum() - np.asarray(short_tr.updates)[real].sum()
    )
    emit(f"{name}_async_step_ms", async_ms)
    emit(f"{name}_sync_eval_ms", sync_ms)
    emit(f"{name}_sync_call_ms", 1e3 * call_s)
    emit(f"{name}_async_run_{LONG}_steps_ms", 1e3 * long_s)
    emit(f"{name}_async_step_vs_sync", async_ms / sync_ms)
    emit(f"{name}_async_step_vs_sync_call", async_ms / (1e3 * call_s))
    emit(f"{name}_node_updates_per_second", extra_updates / (long_s - short_s))
    emit(f"{name}_updates_per_real_node_per_step", extra_updates / (steps * int(real.sum())))
    return async_ms / sync_ms


def bench_stiff(momenta) -> None:
    """Steps to tolerance with and without momentum, and certified against convergent steps
    (module docstring); float64."""
    jax.config.update("jax_enable_x64", True)
    energies = {
        "trained": trained_energy(),
        "laplacian": laplacian_energy(),
        "dense_degree24": dense_energy(),
    }
    certs = {name: certificate(*energy) for name, energy in energies.items()}
    largest = {
        name: largest_convergent_step(*energy, certs[name].smoothness)
        for name, energy in energies.items()
    }
    speedups = {}
    for name in ("trained", "laplacian"):
        (model, graph), cert = energies[name], certs[name]
        emit(f"{name}_condition_number_at_minimiser", cert.condition_number)
        emit(f"{name}_smoothness_k1", cert.smoothness)
        plain = steps_to_tol(model, graph, 1.0 / cert.smoothness)
        emit(f"{name}_plain_steps", plain)
        tries = {b: steps_to_tol(model, graph, 1.0 / cert.smoothness, b) for b in momenta}
        for b, steps in tries.items():
            emit(f"{name}_momentum_{b}_steps", steps)
        best = min(tries, key=tries.get)
        emit(f"{name}_best_momentum", best)
        fast = tries[best]
        speedups[name] = plain / fast
        emit(f"stiff_speedup_{name}", speedups[name])
        emit(f"{name}_largest_plain_step_steps", largest[name][1])
        emit(f"momentum_gain_over_largest_plain_step_{name}", largest[name][1] / fast)
    emit(
        f"target_met_stiff_speedup_trained_ge_{SPEEDUP_TARGET}",
        speedups["trained"] >= SPEEDUP_TARGET,
    )
    for name, cert in certs.items():
        step = largest[name][0]
        emit(f"{name}_certified_step", cert.safe_step)
        emit(f"{name}_dominance_q", cert.dominance)
        emit(f"{name}_largest_convergent_step", step)
        emit(f"certified_step_ratio_{name}", step / cert.safe_step)
        emit(f"certified_step_ratio_{name}_at_minimiser", step / cert.safe_step_at_minimiser)


def bench_block_jacobi(runs=()) -> None:
    """Block-Jacobi steps against plain ones on the stiff energies (module docstring)."""
    jax.config.update("jax_enable_x64", True)
    energies = {"trained": trained_energy, "laplacian": laplacian_energy}
    for run in runs:
        config = json.loads((Path(run) / "config.json").read_text())
        energies[f"{config['task']}_{config['model']}"] = functools.partial(run_energy, run)
    for name, make in energies.items():
        model, graph = make()
        cert = certificate(model, graph)
        scaled = certify(model, graph, SCHEDULE, precondition=True)
        emit(f"{name}_condition_number_at_minimiser", cert.condition_number)
        start = time.perf_counter()
        plain = steps_to_tol(model, graph, 1.0 / cert.smoothness, budget=PLAIN_BUDGET)
        plain_rate = (time.perf_counter() - start) / plain
        emit(f"{name}_plain_steps", plain)
        emit(f"{name}_plain_converged", plain < PLAIN_BUDGET)
        tries, rates = {}, {}
        for alpha in BLOCK_STEPS:
            start = time.perf_counter()
            tries[alpha] = steps_to_tol(model, graph, alpha, budget=plain, precondition=True)
            rates[alpha] = (time.perf_counter() - start) / tries[alpha]
            emit(f"{name}_block_jacobi_{alpha}_steps", tries[alpha])
        best = min(tries, key=tries.get)
        rate = rates[best]
        emit(f"{name}_block_jacobi_best_step", best)
        emit(f"stiff_speedup_block_jacobi_{name}", plain / tries[best])
        emit(f"{name}_block_jacobi_seconds_per_step_over_plain", rate / plain_rate)
        emit(f"{name}_block_dominance_q", scaled.block_dominance)
        emit(f"{name}_block_jacobi_certified_step", scaled.safe_step)


def bench_timed(graph, schedule, args, dtype) -> None:
    """The async step's cost against a synchronous evaluation, per model (module docstring)."""
    ratios = {name: bench_model(name, graph, schedule, args, dtype) for name in MODELS}
    emit("async_step_vs_sync_gradient", ratios["energy-edge"])
    emit(
        f"target_met_async_step_vs_sync_gradient_le_{RATIO_TARGET}",
        ratios["energy-edge"] <= RATIO_TARGET,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    dtype = np.float64 if args.x64 else np.float32
    graph, _ = chain_batch(args.chains, args.length, dtype=dtype)
    schedule = Schedule(args.stagger, args.delay, args.seed)
    print(
        f"# bench/async.py  jax {jax.__version__}  backend {jax.default_backend()}  "
        f"dtype {np.dtype(dtype).name}  batch {args.chains} chains x {args.length} nodes "
        f"(padded {graph.num_nodes} nodes, {graph.senders.shape[0]} edges)  "
        f"S {args.stagger} D {args.delay}  seed {args.seed}  repeats {args.repeats}  "
        f"steps {SHORT}/{LONG}  {load_note()}",
        flush=True,
    )
    if args.only_block_jacobi:
        bench_block_jacobi(args.energy)
        print(f"# end  {load_note()}", flush=True)
        return 0
    if not args.only_stiff:
        bench_timed(graph, schedule, args, dtype)
    if not args.no_stiff:
        bench_stiff(tuple(float(b) for b in args.momenta.split(",")))
    print(f"# end  {load_note()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
