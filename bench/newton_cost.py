"""Benchmark: what one Newton step costs on a batch of large, varied graphs, in gradients.

Run as ``HOGWILD_DATA=../shared/data python bench/newton_cost.py [--task proteins]
[--model energy-edge]``; prints ``name: value`` lines, all times measured in this one
run (ratios are side by side), on the task's padded training batch (fold 0) and a fresh
model in float64, at H = 0.1:

- ``gradient_s``: one ∇E of the whole batch (the unit of an L-BFGS step);
- ``size_buckets`` / ``degree_groups``: how many of each `Newton.for_graphs` planned
  (`hogwild.solve._newton_layout`), and ``block_entries_vs_padded``: the planned blocks'
  entries over those of blocks all padded to the largest graph;
- ``local_hessians_over_gradient``: every node's local Hessian in 1 + d slots (d the
  largest in-degree; energy GNNs by the chain rule, `hogwild.models._energy_hessian`),
  ``grouped_local_hessians_over_gradient`` the same in the planned degree groups, and
  ``generic_local_hessians_over_gradient`` the generic k(1 + d) Hessian-vector products;
- ``newton_blocks_over_gradient``: Newton's factorised blocks as a step builds them
  (grouped local Hessians, assembly, one Cholesky per size bucket);
- ``newton_step_over_gradient``: the blocks, the solve for the step and one gradient for
  its line search: the least a Newton step costs;
- ``planned_blocks_speedup``: the blocks and solve with every block padded to the largest
  graph and every node in 1 + d slots (Newton before session 38) over the planned ones,
  timed alternately; only where the padded blocks fit in 1 GiB (not PROTEINS).
- ``<split>_fitted_entries_vs_dataset`` and ``<split>_fitted_plan_speedup``, for the
  training and validation batches: the block entries of a plan fitted to the batch
  (`Newton.fitted`, what training uses since session 45) over those of the plan counted
  on every split of the dataset (before), and the second's blocks and solve over the
  first's, timed alternately.

``--run RUN`` (a Newton run of an energy GNN, e.g. a Table 3 PROTEINS run after "auto"
handed it to Newton) instead continues the run's latest state for one epoch three ways,
alternately (`timed_interleaved`, medians): ``dataset_plan`` (the plan counted on the
whole dataset, every step and every adjoint factorising: Newton before session 45),
``fitted_plan`` (plans fitted to the batches) and ``reuse`` (also reusing factors: chord
steps and a preconditioned adjoint, Newton now); for each ``<way>_train_s`` (the
training pass), ``<way>_validation_s`` and ``<way>_validation_loss``; then
``fitted_plan_epoch_speedup`` and ``reuse_epoch_speedup`` (ratios of train + validation
seconds) and ``reuse_parameter_rel_diff`` (‖θ_reuse − θ‖ / ‖θ‖ of the parameters trained
with and without reuse).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import emit, rel_error, timed_interleaved

from hogwild.graph import batch_graphs
from hogwild.models._base import AbstractEnergyGNN, ReceiverSlots
from hogwild.solve import Newton
from hogwild.solve._newton_layout import Blocks
from hogwild.solve._precision import cast_floats
from hogwild.tasks import make_task
from hogwild.train import TrainConfig
from hogwild.train._fit import _setup, _sizes, _train_epoch, evaluate_batches
from hogwild.train._run import RunConfig, build_model, load_run, model_spec
from hogwild.train._state import SolverSummary


def seconds(fn, *args, repeats: int = 2) -> float:
    """Mean wall time of ``fn(*args)`` after one compiling call."""
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn(*args))
    return (time.perf_counter() - start) / repeats


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="proteins")
    p.add_argument("--model", default="energy-edge")
    p.add_argument("--run", help="time epochs of this Newton run with each plan instead")
    p.add_argument("--repeats", type=int, default=4, help="--run: epochs per plan (4)")
    args = p.parse_args(argv)
    if args.run:
        return run_epochs(args.run, args.repeats)
    jax.config.update("jax_enable_x64", True)
    fold = "fold" if args.task in ("mutag", "proteins") else "seed"
    config = RunConfig(args.task, args.model, {fold: 0}, TrainConfig())
    data = make_task(args.task, config.task_config())
    model = cast_floats(build_model(model_spec(config, data), seed=0), jnp.float64)
    graph = batch_graphs(list(data.train), dtype=np.float64)
    solver = Newton.for_graphs(list(data.train))
    layout = jax.jit(solver._layout)(graph)
    prepared, slots = model.prepare(graph), ReceiverSlots.of(graph)
    h = jnp.full((graph.num_nodes, model.hidden), 0.1)
    gradient = seconds(jax.jit(jax.grad(lambda h: model.energy(graph, h, prepared))), h, repeats=5)

    def views(fn):
        return jax.jit(lambda h: fn(graph, h, h[graph.senders], slots, prepared))

    hessians = seconds(views(model.local_hessians), h)
    grouped = seconds(
        jax.jit(
            lambda h: model.grouped_local_hessians(
                graph, h, h[graph.senders], layout.slots, layout.groups, prepared
            )
        ),
        h,
    )
    generic = seconds(views(functools.partial(AbstractEnergyGNN.local_hessians, model)), h)
    blocks = seconds(jax.jit(lambda h: Blocks(model, graph, h, layout, prepared).factors), h)
    step = seconds(jax.jit(lambda h: Blocks(model, graph, h, layout, prepared).solve(h)), h)
    padded = graph.num_graphs * solver.max_nodes**2
    emit("graphs", len(data.train))
    emit("largest_in_degree", slots.degree)
    emit("size_buckets", len(layout.sizes))
    emit("degree_groups", len(layout.groups))
    emit("block_entries_vs_padded", layout.total / padded)
    emit("gradient_s", gradient)
    emit("local_hessians_over_gradient", hessians / gradient)
    emit("grouped_local_hessians_over_gradient", grouped / gradient)
    emit("generic_local_hessians_over_gradient", generic / gradient)
    emit("structured_hessian_speedup", generic / hessians)
    emit("newton_blocks_over_gradient", blocks / gradient)
    emit("newton_step_over_gradient", step / gradient + 1)
    padded_solver = dataclasses.replace(solver, size_buckets=(), degree_groups=())
    if padded_solver.memory_bytes(graph.num_graphs, model.hidden) <= 2**30:
        emit("planned_blocks_speedup", alternated_ratio(model, graph, h, solver, padded_solver))
    fitted_speedups(model, data)


def fitted_speedups(model, data) -> None:
    """The ``<split>_fitted_*`` lines: plans fitted to the training and the validation
    batch against the plan counted on every split (module docstring)."""
    every = Newton.for_graphs([g for split in data.splits().values() for g in split])
    for name in ("train", "validation"):
        graph = batch_graphs(list(getattr(data, name)), dtype=np.float64)
        fitted = every.fitted([graph])
        entries = [jax.jit(s._layout)(graph).total for s in (fitted, every)]
        h = jnp.full((graph.num_nodes, model.hidden), 0.1)
        emit(f"{name}_fitted_entries_vs_dataset", entries[0] / entries[1])
        emit(f"{name}_fitted_plan_speedup", alternated_ratio(model, graph, h, fitted, every))


def alternated_ratio(model, graph, h, planned, padded, repeats: int = 10) -> float:
    """Median time of a padded Newton's blocks and solve over the planned one's, the two
    timed alternately (`timed_interleaved`: load shifts hit both)."""

    def step(solver):
        return jax.jit(lambda h: solver._blocks(model, graph, h, model.prepare(graph)).solve(h))

    (fast, _, _), (slow, _, _) = timed_interleaved(
        [(step(planned), (h,)), (step(padded), (h,))], repeats
    )
    return slow / fast


def _without_reuse(setup):
    """``setup`` whose Newton solvers factorise at every step and at H* (before session
    45: ``reuse_ratio`` 0, ``adjoint_products`` 0)."""
    fresh = {"reuse_ratio": 0.0, "adjoint_products": 0}
    return dataclasses.replace(
        setup,
        solver=dataclasses.replace(setup.solver, **fresh),
        validation_solver=dataclasses.replace(setup.validation_solver, **fresh),
    )


def run_epochs(run: str, repeats: int) -> None:
    """The ``--run`` lines: one epoch of ``run`` from its latest state with Newton as it
    is (plans fitted to the training and validation batches, factors reused), without
    reusing factors, and without either (the dataset's plan)."""
    from newton import latest_state  # bench/newton.py

    config, data, model = load_run(run)
    state = latest_state(run, config, data, model)
    reuse = _setup(state.model, data, config.train)
    reuse = reuse.on_fallback() if reuse.fallback is not None else reuse
    if not isinstance(reuse.solver, Newton):
        raise SystemExit(f"{run}: its solver is {type(reuse.solver).__name__}, not Newton")
    fitted = _without_reuse(reuse)
    newton = dataclasses.replace(config.train, energy_solver="newton")
    sizes = _sizes(data, reuse.train + reuse.validation)
    every = newton.solver(state.model.family, *sizes, state.model.hidden)
    dataset = _without_reuse(dataclasses.replace(reuse, solver=every, validation_solver=every))

    def train(setup):
        return _train_epoch(state, setup)[0][0]

    def validate(setup, trained):
        summary = SolverSummary()
        args = (setup.validation, state.validation_states, setup.kind)
        return evaluate_batches(trained, *args, setup.validation_solver, summary)[0]["loss"]

    trained = train(fitted)
    setups = {"dataset_plan": dataset, "fitted_plan": fitted, "reuse": reuse}
    calls = [(train, (s,)) for s in setups.values()]
    calls += [(validate, (s, trained)) for s in setups.values()]
    timed = timed_interleaved(calls, repeats)
    seconds = {}
    for k, name in enumerate(setups):
        (t, _, _), (v, loss, _) = timed[k], timed[k + len(setups)]
        emit(f"{name}_train_s", t)
        emit(f"{name}_validation_s", v)
        emit(f"{name}_validation_loss", float(loss))
        seconds[name] = t + v
    emit("fitted_plan_epoch_speedup", seconds["dataset_plan"] / seconds["fitted_plan"])
    emit("reuse_epoch_speedup", seconds["fitted_plan"] / seconds["reuse"])
    params = [train(s) for s in (fitted, reuse)]
    emit("reuse_parameter_rel_diff", rel_error(*params))


if __name__ == "__main__":
    main()
