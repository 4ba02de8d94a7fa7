"""Training loop (Appendix F.2): Adam with weight decay, decayed learning rate, early
stopping on validation loss, per-batch warm starts of the forward solve."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..solve import LBFGS, Anderson, ImplicitAdjoint, Picard
from ..tasks import Dataset
from ._batch import make_batches
from ._objective import metrics_from_sums, primary_metric
from ._step import eval_step, make_optimiser, train_step

FIXED_POINT_SOLVERS = {"anderson": Anderson, "picard": Picard}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters (defaults: Appendix F.2 of the paper).

    ``patience``: epochs without a better validation loss before stopping early.
    ``solver_tol``: forward tolerance on ‖∇E‖ (energies) or ‖F(H) − H‖ (fixed points);
    None: 1e-4 in float32, 1e-6 in float64.
    ``fixed_point_solver``: "anderson" (default) or "picard" for fixed-point models.
    """

    epochs: int = 5000
    learning_rate: float = 0.002
    decay_rate: float = 0.98
    decay_every: int = 200
    weight_decay: float = 1e-4
    patience: int = 300
    eval_every: int = 1
    batch_size: int | None = None
    seed: int = 0
    solver_tol: float | None = None
    solver_max_steps: int = 500
    x64: bool = False
    fixed_point_solver: str = "anderson"

    def __post_init__(self):
        positive = (
            "epochs",
            "learning_rate",
            "decay_every",
            "patience",
            "eval_every",
            "solver_max_steps",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be > 0; got {getattr(self, name)}.")
        if self.fixed_point_solver not in FIXED_POINT_SOLVERS:
            valid = ", ".join(FIXED_POINT_SOLVERS)
            raise ValueError(
                f"unknown fixed_point_solver {self.fixed_point_solver!r}; valid: {valid}."
            )
        if not 0 < self.decay_rate <= 1:
            raise ValueError(f"`decay_rate` must be in (0, 1]; got {self.decay_rate}.")

    def solver(self, family: str = "optimisation"):
        """The forward solver these options describe for a model ``family`` (None: explicit
        models have nothing to solve)."""
        if family == "optimisation":
            return LBFGS(self.solver_tol, self.solver_max_steps)
        if family == "fixed-point":
            return FIXED_POINT_SOLVERS[self.fixed_point_solver](
                self.solver_tol, self.solver_max_steps
            )
        return None

    @property
    def dtype(self):
        return np.float64 if self.x64 else np.float32


@dataclasses.dataclass
class SolverSummary:
    """Forward-solve statistics accumulated over an epoch range."""

    solves: int = 0
    steps: int = 0
    max_steps: int = 0
    unconverged: int = 0
    max_residual: float = 0.0

    def add(self, stats) -> None:
        steps = int(stats.steps)
        self.solves += 1
        self.steps += steps
        self.max_steps = max(self.max_steps, steps)
        self.unconverged += int(not bool(stats.converged))
        self.max_residual = max(self.max_residual, float(stats.residual))

    def as_dict(self) -> dict:
        mean = self.steps / max(self.solves, 1)
        return {
            "solves": self.solves,
            "mean_steps": mean,
            "max_steps": self.max_steps,
            "unconverged": self.unconverged,
            "max_residual": self.max_residual,
        }


@dataclasses.dataclass
class FitResult:
    model: object
    best_epoch: int
    epochs_run: int
    stopped: str
    history: list[dict]
    train_solver: dict
    seconds: float


class _Evaluator:
    """Evaluates a split with per-batch warm starts kept across calls."""

    def __init__(self, batches, kind, solver, hidden):
        self.batches, self.kind, self.solver = batches, kind, solver
        self.states = [jnp.zeros((b.graph.num_nodes, hidden), b.graph.nodes.dtype) for b in batches]
        self.summary = SolverSummary()

    def __call__(self, model) -> dict:
        sums = []
        for k, batch in enumerate(self.batches):
            s, self.states[k], stats, _ = eval_step(
                model, batch, self.states[k], self.kind, self.solver
            )
            sums.append(s)
            self.summary.add(stats)
        return metrics_from_sums(self.kind, sums)


def _epoch(state, batches, kind, optimiser, solver, adjoint, summary):
    model, opt_state, h = state
    losses = []
    for k, batch in enumerate(batches):
        model, opt_state, value, h[k], stats = train_step(
            model, opt_state, batch, h[k], optimiser, kind, solver, adjoint
        )
        losses.append(float(value))
        summary.add(stats)
    return (model, opt_state, h), float(np.mean(losses))


def fit(
    model,
    data: Dataset,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[dict], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``data.train``; keep the parameters with the best validation loss.

    Stops after ``config.epochs`` epochs, after ``config.patience`` epochs without a better
    validation loss, when the training loss becomes non-finite, or on KeyboardInterrupt
    (Ctrl-C; the CLI turns SIGTERM into one): the best model so far is kept and ``stopped``
    says why, so an interrupted run still saves its checkpoint and metrics.
    """
    start = time.perf_counter()
    level, kind, dtype = data.level, data.kind, config.dtype
    train = make_batches(data.train, level, config.batch_size, dtype)
    validate = _Evaluator(
        make_batches(data.validation, level, config.batch_size, dtype),
        kind,
        config.solver(model.family),
        model.hidden,
    )
    solver = config.solver(model.family)
    optimiser = make_optimiser(
        config.learning_rate, config.decay_rate, config.decay_every, config.weight_decay, len(train)
    )

    h = [jnp.zeros((b.graph.num_nodes, model.hidden), dtype) for b in train]
    state = (model, optimiser.init(eqx.filter(model, eqx.is_inexact_array)), h)
    best = (math.inf, model, 0)
    history, summary, stopped, epoch = [], SolverSummary(), "max_epochs", 0
    try:
        for epoch in range(1, config.epochs + 1):
            state, train_loss = _epoch(
                state, train, kind, optimiser, solver, ImplicitAdjoint(), summary
            )
            if not math.isfinite(train_loss):
                stopped = f"non-finite training loss at epoch {epoch}"
                break
            if epoch % config.eval_every and epoch != config.epochs:
                continue
            val = validate(state[0])
            if val["loss"] < best[0]:
                best = (val["loss"], state[0], epoch)
            history.append(_record(epoch, train_loss, val, summary, start))
            if progress is not None:
                progress(history[-1])
            if epoch - best[2] >= config.patience:
                stopped = f"early stop: no better validation loss for {config.patience} epochs"
                break
    except KeyboardInterrupt:
        stopped = f"interrupted during epoch {epoch}"
    return FitResult(
        best[1], best[2], epoch, stopped, history, summary.as_dict(), time.perf_counter() - start
    )


def _record(epoch, train_loss, val, summary, start) -> dict:
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        **{f"validation_{k}": v for k, v in val.items()},
        "solver_mean_steps": summary.as_dict()["mean_steps"],
        "seconds": time.perf_counter() - start,
    }


def evaluate(model, data: Dataset, config: TrainConfig = TrainConfig()) -> dict:
    """Metrics and solver statistics of ``model`` on every split, solved from cold starts."""
    out = {}
    for name, graphs in data.splits().items():
        batches = make_batches(graphs, data.level, config.batch_size, config.dtype)
        ev = _Evaluator(batches, data.kind, config.solver(model.family), model.hidden)
        out[name] = {**ev(model), "solver": ev.summary.as_dict()}
    out["primary_metric"] = primary_metric(data.kind)
    return out
