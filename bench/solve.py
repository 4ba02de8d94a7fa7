"""Benchmark: solver speed (L-BFGS vs gradient descent) and training-step cost (implicit
adjoint vs backprop through unrolled gradient descent) of the edge-wise energy GNN.

Run as ``python bench/solve.py [--seed 0] [--repeats 3] [--chains 64] [--length 100]``.
Prints one ``name: value`` line per figure. All work is in float64 on whatever JAX device
is the default (CPU here); timings exclude compilation (a warm-up call runs first) and are
the median of ``--repeats`` calls, each ended by ``jax.block_until_ready``. The solver
calls being compared are interleaved (a, b, a, b, ...) so that both see the same load;
the header and the last line print the load average, since on a shared machine the
wall-time ratios move with it (the ``*_energy_evals`` / ``*_cg_hvps`` counts do not).

Setup: a batch of ``--chains`` undirected path graphs of ``--length`` nodes, 2 classes,
class one-hot in node 0 only (all other node features 0), labels alternating by chain;
a freshly initialised ``EnergyGNN(2, 0, 1, variant="edge", key=PRNGKey(seed))``.
Training steps use the mean BCE of the readout logits on the real nodes against the
chain labels; the warm start is the L-BFGS solution of part 1 (tolerance 1e-5, i.e. close
to but not at the implicit step's own 1e-6 tolerance, like the previous step's solution
during training).
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import argparse  # noqa: E402
import sys  # noqa: E402

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    CallCounter,
    bce_with_logits,
    chain_batch,
    compiled_memory,
    emit,
    load_note,
    rel_error,
    timed_interleaved,
    to_dtype,
)

from hogwild import EnergyGNN  # noqa: E402
from hogwild.solve import (  # noqa: E402
    LBFGS,
    AbstractSolver,
    GradientDescent,
    ImplicitAdjoint,
    UnrolledAdjoint,
    minimise,
)

SOLVE_TOL = 1e-5
GD_MAX_STEPS = 100_000
UNROLL_STEPS = 300
SPEEDUP_TARGET = 50.0
STEP_RATIO_TARGET = 0.1


def warn(message: str) -> None:
    print(f"warning: {message}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0, help="model init seed (default 0)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per figure (default 3)")
    p.add_argument("--chains", type=int, default=64, help="chains in the batch (default 64)")
    p.add_argument("--length", type=int, default=100, help="nodes per chain (default 100)")
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------
# 1. Solver speed
# --------------------------------------------------------------------------------------


def bench_solvers(model, graph, repeats):
    gd = GradientDescent(tol=SOLVE_TOL, max_steps=GD_MAX_STEPS)
    lbfgs = LBFGS(tol=SOLVE_TOL)

    @eqx.filter_jit
    def solve_gd(model, graph):
        return minimise(model, graph, solver=gd)

    @eqx.filter_jit
    def solve_lbfgs(model, graph):
        return minimise(model, graph, solver=lbfgs)

    (gd_s, gd_sol, gd_best), (lb_s, lb_sol, lb_best) = timed_interleaved(
        [(solve_gd, (model, graph)), (solve_lbfgs, (model, graph))], repeats=repeats
    )

    emit("gd_seconds", gd_s)
    emit("gd_steps", int(gd_sol.stats.steps))
    emit("gd_residual", float(gd_sol.stats.residual))
    emit("lbfgs_seconds", lb_s)
    emit("lbfgs_steps", int(lb_sol.stats.steps))
    emit("lbfgs_residual", float(lb_sol.stats.residual))
    for name, sol in (("gd", gd_sol), ("lbfgs", lb_sol)):
        if not bool(sol.stats.converged):
            warn(
                f"{name} did not reach ||grad E|| < {SOLVE_TOL:g} "
                f"(residual {float(sol.stats.residual):.3e} after {int(sol.stats.steps)} steps)"
            )
    mask = graph.node_mask[:, None]
    emit(
        "solution_max_abs_diff_gd_vs_lbfgs",
        float(jnp.max(jnp.abs(jnp.where(mask, gd_sol.value - lb_sol.value, 0.0)))),
    )
    speedup = gd_s / lb_s
    emit("solver_speedup_vs_gd", speedup)
    emit("target_met_solver_speedup_vs_gd_ge_50", speedup >= SPEEDUP_TARGET)

    # Diagnostics, independent of machine load: energy evaluations (each one value and/or
    # gradient of E; the GD count includes the 1/L power-iteration start) and the cost of
    # one evaluation inside each solver.
    gd_evals = count_energy_evals(gd, model, graph)
    lb_evals = count_energy_evals(lbfgs, model, graph)
    emit("solver_speedup_vs_gd_best_of_repeats", gd_best / lb_best)
    emit("gd_energy_evals", gd_evals)
    emit("lbfgs_energy_evals", lb_evals)
    emit("solver_eval_ratio_gd_vs_lbfgs", gd_evals / lb_evals)
    emit("gd_ms_per_eval", 1e3 * gd_s / gd_evals)
    emit("lbfgs_ms_per_eval", 1e3 * lb_s / lb_evals)
    return lb_sol


def count_energy_evals(solver: AbstractSolver, model, graph, h0=None) -> int:
    """Energy evaluations one ``solver.run`` makes (untimed run with a call counter)."""
    counter = CallCounter()
    if h0 is None:
        h0 = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype)

    @eqx.filter_jit
    def run(model, graph, h0):
        return solver.run(counter.wrap(lambda h: model.energy(graph, h)), h0)

    jax.block_until_ready(run(model, graph, h0))  # compile + warm-up
    counter.reset()
    jax.block_until_ready(run(model, graph, h0))
    return counter.count


def count_cg_iterations(model, graph, labels, h_star, adjoint: ImplicitAdjoint) -> int:
    """Hessian-vector products CG makes in `hogwild.solve.adjoint_solve` for this loss.

    Replicates `adjoint_solve` (same CG call and tolerance) with a counted HVP; the count
    includes CG's initial residual product.
    """
    from jax.scipy.sparse.linalg import cg

    counter = CallCounter()
    mask = graph.node_mask

    @eqx.filter_jit
    def run(model, h_star):
        cotangent = jax.grad(
            lambda h: bce_with_logits(model.readout(graph, h)[:, 0], labels, mask)
        )(h_star)
        _, hvp = jax.linearize(jax.grad(lambda h: model.energy(graph, h)), h_star)
        lam, _ = cg(
            counter.wrap(hvp),
            cotangent,
            tol=adjoint.tolerance(h_star.dtype),
            atol=0.0,
            maxiter=adjoint.cg_max_steps,
        )
        return lam

    jax.block_until_ready(run(model, h_star))
    counter.reset()
    jax.block_until_ready(run(model, h_star))
    return counter.count


# --------------------------------------------------------------------------------------
# 2. Training-step cost
# --------------------------------------------------------------------------------------


def make_steps(graph, labels):
    """Jitted (loss, grad) training steps: implicit (h0 given) and unrolled (cold)."""
    mask = graph.node_mask

    def loss(model, h0, solver, adjoint):
        sol = minimise(model, graph, h0, solver=solver, adjoint=adjoint)
        logits = model.readout(graph, sol.value)[:, 0]
        return bce_with_logits(logits, labels, mask), sol.stats

    grad_fn = eqx.filter_value_and_grad(loss, has_aux=True)

    @eqx.filter_jit
    def implicit_step(model, h0):
        return grad_fn(model, h0, LBFGS(), ImplicitAdjoint())

    @eqx.filter_jit
    def unrolled_step(model, h0):
        return grad_fn(
            model, h0, GradientDescent(unrolled=True, max_steps=UNROLL_STEPS), UnrolledAdjoint()
        )

    return implicit_step, unrolled_step


def bench_training_step(model, graph, labels, h_star, repeats):
    implicit_step, unrolled_step = make_steps(graph, labels)
    h_cold = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype)
    h_warm = jax.lax.stop_gradient(h_star)

    # The unrolled step is timed on its own, after the implicit ones: it allocates and frees
    # several GiB per call, and an implicit step run right after it measured ~3x slower
    # (page faults / memory reclaim), a cost that belongs to neither method's own step.
    cold, warm = timed_interleaved(
        [(implicit_step, (model, h_cold)), (implicit_step, (model, h_warm))], repeats=repeats
    )
    (unrolled,) = timed_interleaved([(unrolled_step, (model, h_cold))], repeats=repeats)
    cold_s, ((cold_loss, cold_stats), cold_grad), cold_best = cold
    warm_s, ((warm_loss, warm_stats), warm_grad), _ = warm
    unr_s, ((unr_loss, unr_stats), unr_grad), unr_best = unrolled

    emit("implicit_step_seconds_cold", cold_s)
    emit("implicit_step_solver_steps_cold", int(cold_stats.steps))
    emit("implicit_step_seconds_warm", warm_s)
    emit("implicit_step_solver_steps_warm", int(warm_stats.steps))
    emit("unrolled300_step_seconds", unr_s)
    emit("unrolled300_final_residual", float(unr_stats.residual))
    emit("loss_implicit", float(cold_loss))
    emit("loss_unrolled300", float(unr_loss))
    emit("implicit_grad_rel_diff_cold_vs_warm", rel_error(warm_grad, cold_grad))
    emit("unrolled300_grad_rel_error", rel_error(unr_grad, cold_grad))
    cold_h = minimise(model, graph, h_cold).value  # the implicit step's default solve
    emit(
        "implicit_adjoint_cg_hvps",
        count_cg_iterations(model, graph, labels, cold_h, ImplicitAdjoint()),
    )

    cold_ratio, warm_ratio = cold_s / unr_s, warm_s / unr_s
    emit("implicit_step_vs_unrolled", cold_ratio)
    emit("implicit_step_vs_unrolled_warm", warm_ratio)
    emit("target_met_implicit_step_vs_unrolled_le_0.1", cold_ratio <= STEP_RATIO_TARGET)
    emit("target_met_implicit_step_vs_unrolled_warm_le_0.1", warm_ratio <= STEP_RATIO_TARGET)
    emit("implicit_step_vs_unrolled_best_of_repeats", cold_best / unr_best)

    # 3. Peak memory (optional): XLA's static compiled-memory analysis of each jitted step.
    for name, fn in (("implicit_step", implicit_step), ("unrolled300_step", unrolled_step)):
        mem = compiled_memory(fn, model, h_cold)
        if mem is None:
            emit(f"{name}_compiled_temp_mib", float("nan"))
            continue
        emit(f"{name}_compiled_temp_mib", mem["temp"] / 2**20)
        emit(f"{name}_compiled_total_mib", (mem["temp"] + mem["argument"] + mem["output"]) / 2**20)


def main(argv=None) -> int:
    args = parse_args(argv)
    graph, labels = chain_batch(args.chains, args.length, dtype=np.float64)
    model = to_dtype(EnergyGNN(2, 0, 1, variant="edge", key=jr.PRNGKey(args.seed)), jnp.float64)
    print(
        f"# bench/solve.py  jax {jax.__version__}  backend {jax.default_backend()}  "
        f"dtype float64  batch {args.chains} chains x {args.length} nodes "
        f"(padded {graph.num_nodes} nodes, {graph.senders.shape[0]} edges)  "
        f"seed {args.seed}  repeats {args.repeats}  tol {SOLVE_TOL:g}  {load_note()}",
        flush=True,
    )
    lbfgs_solution = bench_solvers(model, graph, args.repeats)
    bench_training_step(model, graph, labels, lbfgs_solution.value, args.repeats)
    print(
        "# *_compiled_*_mib: XLA's static memory_analysis() of the compiled jitted step "
        "(temp = scratch buffers; total adds arguments and outputs), not a measured peak RSS",
        flush=True,
    )
    print(f"# end  {load_note()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
