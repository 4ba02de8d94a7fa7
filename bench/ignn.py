"""Benchmark: IGNN forward (fixed-point iteration, plain vs Anderson-accelerated) and
forward + backward time per training epoch on the chains batch.

Run as ``python bench/ignn.py [--seed 0] [--repeats 5] [--x64] [--figure PATH]``.
Prints one ``name: value`` line per figure and saves a residual-versus-iteration plot.

Setup: the training split of the chains task with its defaults (8 chains of 100 nodes in one
padded batch, exactly what ``hogwild train --task chains --model ignn`` trains on), float32
unless ``--x64``. Two parameter states of the registered ``ignn`` model (κ = 0.9): ``init``
(freshly initialised) and ``bound`` (θ_m = κI, on the constraint's boundary: with every unit
active the Jacobian is κÃ, whose spectral radius κ is the slowest contraction the constraint
allows), plus ``trained`` when ``--run DIR`` names a trained ignn run. Iterations count
evaluations of F to the training tolerance (‖F(H) − H‖ below 1e-4 in float32, 1e-6 in
float64) from H = 0. An epoch is one ``hogwild.train.train_step`` (forward solve, implicit
backward by GMRES, Adam step, projection), from a cold start (H = 0) and from a warm start
(the solution of the parameters one step earlier, as in training). Timings are medians of
``--repeats`` calls after a warm-up call (compilation excluded), Picard and Anderson
interleaved.
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np
from _common import emit, load_note, timed_interleaved

TRACE_STEPS = 300


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0, help="model and split seed (default 0)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per figure (default 5)")
    p.add_argument("--x64", action="store_true", help="float64 instead of float32")
    p.add_argument("--figure", default="results/bench_ignn.png", help="residual plot (PNG)")
    p.add_argument("--run", help="also bench the model of this trained ignn run directory")
    return p.parse_args(argv)


def setup(seed: int, dtype, run=None):
    """(data, batch, {state name: model}) for the chains training split."""
    import equinox as eqx

    from hogwild.tasks import ChainsConfig, make_task
    from hogwild.train import RunConfig, make_batches
    from hogwild.train._run import build_model, model_spec

    config = RunConfig("chains", "ignn")
    data = make_task("chains", ChainsConfig(seed=seed))
    batch = make_batches(data.train, data.level, None, dtype)[0]
    spec = model_spec(config, data)
    spec["dtype"] = np.dtype(dtype).name
    model = build_model(spec, seed)
    eye = model.kappa * jnp.eye(model.hidden, dtype=model.weight.dtype)
    states = {"init": model, "bound": eqx.tree_at(lambda m: m.weight, model, eye)}
    if run is not None:
        from hogwild.train import load_run

        _, _, trained = load_run(run)
        states["trained"] = jax.tree_util.tree_map(
            lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, trained
        )
    return data, batch, states


def trace(solver, model, graph, steps: int = TRACE_STEPS):
    """Residual ‖F(H_k) − H_k‖ after each of ``steps`` iterations from H = 0."""
    from hogwild.solve._implicit import objective

    fmap = objective(model, graph)
    h0 = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype)

    def body(state, _):
        state = solver.step(fmap, state)
        return state, state[1]

    first = solver.init(fmap, h0)
    _, residuals = jax.lax.scan(body, first, None, steps - 1)
    return np.concatenate([[float(first[1])], np.asarray(residuals)])


def bench_state(name, model, batch, data, repeats, traces):
    import equinox as eqx

    from hogwild.solve import Anderson, ImplicitAdjoint, Picard, fixed_point
    from hogwild.train import train_step
    from hogwild.train._step import make_optimiser

    graph = batch.graph
    solvers = {"picard": Picard(max_steps=10_000), "anderson": Anderson(max_steps=10_000)}
    theta = model.weight
    emit(f"{name}_theta_inf_norm", float(jnp.max(jnp.sum(jnp.abs(theta), 1))))

    solve = eqx.filter_jit(lambda m, s: fixed_point(m, graph, solver=s))
    results = timed_interleaved([(solve, (model, s)) for s in solvers.values()], repeats)
    for (label, _), (seconds, sol, _) in zip(solvers.items(), results):
        emit(f"{name}_{label}_iterations", int(sol.stats.steps))
        emit(f"{name}_{label}_converged", bool(sol.stats.converged))
        emit(f"{name}_{label}_forward_ms", 1e3 * seconds)
    picard_steps, anderson_steps = (int(r[1].stats.steps) for r in results)
    emit(f"{name}_iterations_picard_over_anderson", picard_steps / anderson_steps)
    emit(f"{name}_forward_time_picard_over_anderson", results[0][0] / results[1][0])
    emit(
        f"{name}_max_abs_diff_picard_vs_anderson",
        float(jnp.max(jnp.abs(results[0][1].value - results[1][1].value))),
    )

    optimiser = make_optimiser(0.002, 0.98, 200, 1e-4, 1)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))
    cold = jnp.zeros_like(results[1][1].value)
    adjoint, calls = ImplicitAdjoint(), []
    for solver in solvers.values():
        fixed = (optimiser, data.kind, solver, adjoint)
        calls.append((train_step, (model, opt_state, batch, cold, *fixed)))
        out = train_step(model, opt_state, batch, cold, *fixed)
        calls.append((train_step, (out.model, out.opt_state, batch, out.states, *fixed)))
    timings = timed_interleaved(calls, repeats)
    labels = [(s, w) for s in solvers for w in ("cold", "warm")]
    for (solver_name, start), (seconds, out, _) in zip(labels, timings):
        emit(f"{name}_epoch_{solver_name}_{start}_ms", 1e3 * seconds)
        emit(f"{name}_epoch_{solver_name}_{start}_forward_iterations", int(out.forward.steps))
    emit(f"{name}_epoch_warm_picard_over_anderson", timings[1][0] / timings[3][0])
    for label, solver in solvers.items():
        traces[(name, label)] = trace(solver, model, graph)


def save_figure(traces, path, tol):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    styles = {"picard": "-", "anderson": "--"}
    colours = {"init": "tab:blue", "bound": "tab:red", "trained": "tab:green"}
    names = {"init": "θ_m at init", "bound": "θ_m = κI", "trained": "trained"}
    for (state, solver), residuals in traces.items():
        label = f"{solver}, {names[state]}"
        ax.semilogy(
            np.arange(1, len(residuals) + 1),
            np.maximum(residuals, 1e-16),
            styles[solver],
            color=colours[state],
            label=label,
        )
    ax.axhline(tol, color="grey", lw=0.8, label=f"tolerance {tol:g}")
    ax.set_xlabel("evaluations of F")
    ax.set_ylabel("‖F(H) − H‖₂")
    ax.set_title("IGNN fixed point on the chains training batch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    dtype = np.float64 if args.x64 else np.float32
    from hogwild.solve import default_tolerance

    data, batch, states = setup(args.seed, dtype, args.run)
    graph = batch.graph
    print(
        f"# bench/ignn.py  jax {jax.__version__}  backend {jax.default_backend()}  "
        f"dtype {np.dtype(dtype).name}  chains train batch {len(data.train)} graphs "
        f"(padded {graph.num_nodes} nodes, {graph.senders.shape[0]} edges)  "
        f"seed {args.seed}  repeats {args.repeats}  {load_note()}",
        flush=True,
    )
    traces = {}
    for name, model in states.items():
        bench_state(name, model, batch, data, args.repeats, traces)
    save_figure(traces, args.figure, default_tolerance(dtype))
    print(f"# figure: {args.figure}", flush=True)
    print(f"# end  {load_note()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
