"""Benchmark: the energy solvers while an energy GNN trains and stiffens (issue 11).

Run as ``HOGWILD_DATA=../shared/data python bench/newton.py [--epochs 150] [--fold 0]
[--model energy-edge] [--task mutag] [--lr 0.01] [--graphs N] [--start RUN]``; prints one
``name: value`` line per figure; ``--figure PATH`` also plots, per epoch and solver, the
forward steps, adjoint steps and seconds (``results/newton.png``).

Trains an energy GNN (``--model``, default the edge-wise one) on ``--task`` (default
MUTAG with Table 3's reduced settings: fold ``--fold``, seed 0, lr 0.01, full batch,
float32 with float64 solves; a synthetic task takes ``--fold`` as its data seed, like
Table 1) from the same parameters twice, one solver after the other in this process.
``--start RUN`` instead continues a saved run directory from its latest training state
(``state.eqx``: parameters, optimiser and warm starts; else its best-validation model) with
its task, data and training options, ``--epochs`` more epochs each, to compare the
solvers where a long run's energy has got to, e.g. where "auto" would hand L-BFGS over to Newton:
``energy_solver`` lbfgs (L-BFGS forward, CG adjoint) and newton (per-graph dense Newton
forward, Cholesky adjoint).

- ``<solver>_s_per_epoch``: wall seconds per epoch, epochs 2..E, after an untimed
  11-epoch warm-up run of each solver that compiles every program.
- ``<solver>_mean_solve_steps`` / ``<solver>_mean_adjoint_steps``: forward steps (L-BFGS
  iterations or Newton steps) and adjoint products (CG) or factorisations (Newton) per
  training solve, over the timed run's epochs.
- ``<solver>_final_condition``: K₁/μ of the Hessian at the last recorded H* (the energy's
  stiffness when the run ends).
- ``<solver>_unconverged``: training solves (forward + adjoint) that did not converge.
- ``newton_speedup``: lbfgs_s_per_epoch / newton_s_per_epoch, measured side by side.
- ``newton_step_cost``: what "auto" takes one Newton step on the first training batch to
  cost, in gradients of E (local Hessians and factorisations, `Newton.step_cost`), and
  ``auto_switch_units``: the L-BFGS forward steps plus adjoint products per solve past
  which "auto" hands a run to Newton (`AUTO_SWITCH` times that).
- ``train_loss_max_rel_diff``: the largest relative difference of the two runs' training
  losses over the epochs (both solve to the same tolerance; trajectories drift apart
  only by the solves' differing round-off and tolerance slack).

``--tolerances`` compares Newton with itself instead: ``newton_1e-4`` (forward tolerance
1e-4, its default before 2026-12-05) against ``newton`` (its default, float64's 1e-6
under mixed precision), the same figures for each and ``tight_cost``:
newton_s_per_epoch / newton_1e-4_s_per_epoch, side by side.

``--hessians`` compares Newton with the energy GNN's structured local Hessians (``newton``,
the default since session 37) against the generic k(1 + d) Hessian-vector products
(``newton_generic``), the same figures for each and ``structured_epoch_speedup``:
newton_generic_s_per_epoch / newton_s_per_epoch, side by side (JAX's in-memory caches
are cleared between the two, which trace the same model).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time
from pathlib import Path

import jax
import numpy as np
from _common import emit

from hogwild.models import EnergyGNN
from hogwild.models._base import AbstractEnergyGNN
from hogwild.solve import Newton
from hogwild.solve._newton import AUTO_SWITCH
from hogwild.tasks import make_task
from hogwild.train import TrainConfig, fit, make_batches
from hogwild.train._fit import initial_state
from hogwild.train._run import RunConfig, _resumed_state, build_model, load_run, model_spec

#: Untimed epochs per solver first, so that neither timed run pays for a compilation
#: (the conditioning estimate of epoch 10 included).
WARM_UP = 11


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=150, help="epochs per solver (default 150)")
    p.add_argument("--task", default="mutag", help="mutag (default) or a synthetic task")
    p.add_argument("--fold", type=int, default=0, help="fold (TU tasks) or data seed (0)")
    p.add_argument("--model", default="energy-edge", help="energy-edge (default), ...")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    p.add_argument("--graphs", type=int, help="synthetic tasks: num_graphs (task default)")
    p.add_argument("--figure", help="also plot steps and time per epoch into this PNG")
    p.add_argument("--start", help="continue this run directory's model (its options)")
    compare = p.add_mutually_exclusive_group()
    compare.add_argument(
        "--tolerances", action="store_true", help="Newton at 1e-4 against its default instead"
    )
    compare.add_argument(
        "--hessians", action="store_true", help="Newton's generic local Hessians against its own"
    )
    return p.parse_args(argv)


#: Variants compared: name -> (energy_solver, solver_tol, generic local Hessians).
SOLVERS = {"lbfgs": ("lbfgs", None, False), "newton": ("newton", None, False)}
TOLERANCES = {"newton_1e-4": ("newton", 1e-4, False), "newton": ("newton", None, False)}
HESSIANS = {"newton_generic": ("newton", None, True), "newton": ("newton", None, False)}


@contextlib.contextmanager
def generic_hessians(on: bool):
    """While ``on``: energy GNNs assemble their local Hessians the generic way."""
    if not on:
        yield
        return
    own = EnergyGNN.__dict__["local_hessians"]
    EnergyGNN.local_hessians = AbstractEnergyGNN.local_hessians
    try:
        yield
    finally:
        EnergyGNN.local_hessians = own


def latest_state(run: str, config, data, model):
    """The run's latest `TrainingState` (its ``state.eqx``: parameters, optimiser, warm
    starts where training got to), or None when it has none. Its ``checkpoint.eqx`` holds
    the best-validation model, which may be hundreds of epochs younger and much softer
    (a PROTEINS run's best epoch 112 took 66 L-BFGS steps per solve, its epoch 250 260)."""
    skeleton = initial_state(model, data, config.train)
    return _resumed_state(Path(run), skeleton, model_spec(config, data), None)


def train(variant: tuple, args, epochs: int | None = None) -> dict:
    """One run; its per-epoch wall times from the progress callback and its result."""
    epochs = epochs or args.epochs
    solver, tol, _ = variant
    changes = dict(epochs=epochs, patience=epochs, energy_solver=solver, solver_tol=tol)
    state = None
    if args.start:
        saved, data, model = load_run(args.start)
        state = latest_state(args.start, saved, data, model)
        if state is not None:  # E more epochs from where the run got to, whatever its best
            model, changes["epochs"] = state.model, state.epoch + epochs
            changes["patience"] = changes["epochs"]
        train_config = dataclasses.replace(saved.train, **changes)
    else:
        train_config = TrainConfig(learning_rate=args.lr, **changes)
        fold = "fold" if args.task in ("mutag", "proteins") else "seed"
        options = {fold: args.fold}
        if args.graphs is not None:
            options["num_graphs"] = args.graphs
        config = RunConfig(args.task, args.model, options, train_config)
        data = make_task(config.task, config.task_config())
        model = build_model(model_spec(config, data), seed=0)
    stamps = []
    result = fit(
        model,
        data,
        train_config,
        progress=lambda record: stamps.append(time.perf_counter()),
        state=state,
    )
    return {"stamps": stamps, "result": result, "problem": (model, data, train_config)}


def newton_step_cost(model, data, config) -> float:
    """What "auto" takes a Newton step on the first training batch to cost, in gradients
    of E (`Newton.step_cost`: local Hessians and factorisations)."""
    graphs = [g for split in data.splits().values() for g in split]
    batch = make_batches(data.train, data.level, config.batch_size, config.dtype)[0]
    return Newton.for_graphs(graphs).step_cost(model, batch.graph)


def report(solver: str, run: dict) -> float:
    stamps, result = run["stamps"], run["result"]
    per_epoch = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    conditions = [h["condition"] for h in result.history if "condition" in h]
    records = result.history[-len(stamps) :]  # this run's epochs (a --start run's
    # history and solver counters begin with the saved run's)
    emit(f"{solver}_s_per_epoch", per_epoch)
    emit(f"{solver}_mean_solve_steps", np.mean([h["solver_steps"] for h in records]))
    emit(f"{solver}_mean_adjoint_steps", np.mean([h["adjoint_steps"] for h in records]))
    emit(f"{solver}_final_condition", conditions[-1] if conditions else float("nan"))
    unconverged = sum(h["solver_unconverged"] + h["adjoint_unconverged"] for h in records)
    emit(f"{solver}_unconverged", unconverged)
    return per_epoch


def figure(runs: dict, path: str, title: str) -> None:
    """Per epoch, both solvers: forward steps per training solve, adjoint steps, and the
    wall time of the epoch, on log axes — L-BFGS's grow with the energy's stiffness."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
    for solver, run in runs.items():
        history = run["result"].history
        epochs = [h["epoch"] for h in history]
        axes[0].plot(epochs, [h["solver_steps"] for h in history], label=solver)
        axes[1].plot(epochs, [h["adjoint_steps"] for h in history], label=solver)
        axes[2].plot(epochs[1:], np.diff(run["stamps"]), label=solver)
    labels = ("forward steps per solve", "adjoint products / factorisations", "s per epoch")
    for ax, label in zip(axes, labels):
        ax.set(xlabel="epoch", ylabel=label, yscale="log")
        ax.legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    args = parse_args(argv)
    variants = TOLERANCES if args.tolerances else HESSIANS if args.hessians else SOLVERS
    runs = {}
    for name, variant in variants.items():
        with generic_hessians(variant[2]):
            if args.hessians:  # both trace the same functions: no program of the other's
                jax.clear_caches()
            train(variant, args, epochs=WARM_UP)  # compile everything, conditioning included
            runs[name] = train(variant, args)
    seconds = {name: report(name, run) for name, run in runs.items()}
    cost = newton_step_cost(*next(iter(runs.values()))["problem"])
    emit("newton_step_cost", cost)
    emit("auto_switch_units", AUTO_SWITCH * cost)
    if args.tolerances:
        emit("tight_cost", seconds["newton"] / seconds["newton_1e-4"])
    elif args.hessians:
        emit("structured_epoch_speedup", seconds["newton_generic"] / seconds["newton"])
    else:
        emit("newton_speedup", seconds["lbfgs"] / seconds["newton"])
    losses = [np.array([h["train_loss"] for h in r["result"].history]) for r in runs.values()]
    emit("train_loss_max_rel_diff", float(np.max(np.abs(losses[1] / losses[0] - 1))))
    if args.figure:
        versus = " vs ".join(runs)
        start = f"from {args.start}" if args.start else f"(fold {args.fold}, lr {args.lr})"
        title = f"{args.model} on {args.task} {start}: {versus}"
        figure(runs, args.figure, title)


if __name__ == "__main__":
    main()
