"""Training loop (Appendix F.2): Adam with weight decay, decayed learning rate, early
stopping on validation loss, per-batch warm starts of the forward solve.

Nothing is silent: every forward and adjoint solve is counted, and training stops as
*diverged* at the first non-finite training loss, parameter, solve residual or validation
loss, keeping the best model of the epochs before. Nothing is lost: the loop works on an
immutable `TrainingState` replaced once per epoch, hands it to ``checkpoint`` every
``checkpoint_every`` epochs (or ``checkpoint_seconds``), and continues from one exactly.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..solve import ImplicitAdjoint, Newton, condition_number
from ..tasks import Dataset
from ._batch import make_batches
from ._config import TrainConfig
from ._guard import rollback_fields, rolls_back, snapshot_fields
from ._objective import check_pair_nodes, metrics_from_sums, primary_metric
from ._scaling import target_scale, with_target_scale
from ._state import SolverSummary, TrainingState
from ._step import eval_step, make_optimiser, train_step


@dataclasses.dataclass
class FitResult:
    """``model`` (best on validation, from ``best_epoch``), why training ``stopped`` (and
    whether it ``diverged``), the ``history`` records, solver counters and the final
    ``state`` (to save for ``--resume``)."""

    model: object
    best_epoch: int
    epochs_run: int
    stopped: str
    history: list[dict]
    train_solver: dict
    train_adjoint: dict
    seconds: float
    diverged: bool = False
    state: TrainingState | None = None

    @classmethod
    def from_state(cls, state: TrainingState, stopped: str, diverged: bool | None = None):
        """The result of training that ended in ``state`` because ``stopped`` (``diverged``:
        by default, whether ``stopped`` says so)."""
        return cls(
            model=state.best_model,
            best_epoch=state.best_epoch,
            epochs_run=state.epoch,
            stopped=stopped,
            history=list(state.history),
            train_solver=state.forward.as_dict(),
            train_adjoint=state.adjoint.as_dict(),
            seconds=state.seconds,
            diverged=stopped.startswith("diverged") if diverged is None else diverged,
            state=state,
        )


@dataclasses.dataclass(frozen=True)
class _Setup:
    """What stays fixed during training: batches, optimiser, solvers (the validation
    batches' own: a Newton solver's plan is fitted to the batches it solves)."""

    train: list
    validation: list
    kind: str
    optimiser: object
    solver: object
    adjoint: ImplicitAdjoint
    validation_solver: object = None
    #: The Newton solvers "auto" switches to once L-BFGS is the slower (None: no switch),
    #: for the training and the validation batches.
    fallback: object = None
    validation_fallback: object = None

    def on_fallback(self) -> _Setup:
        """This setup solving with its fallbacks (and no further switch)."""
        return dataclasses.replace(
            self,
            solver=self.fallback,
            validation_solver=self.validation_fallback,
            fallback=None,
            validation_fallback=None,
        )


def sized_solver(model, data: Dataset, config: TrainConfig, batches, evaluation=False):
    """``config.solver`` (``eval_solver`` when ``evaluation``) for ``model`` on
    ``batches``: a Newton solver planned on every split of ``data`` (its size buckets and
    degree groups), fitted to ``batches`` (`Newton.fitted`: no slots for graphs they do not
    hold) and checked to fit in memory for them before anything is compiled."""
    graphs, counts = _sizes(data, batches)
    make = config.eval_solver if evaluation else config.solver
    solver = make(model.family, graphs, counts, model.hidden)
    if isinstance(solver, Newton):
        solver = _fitted(solver, batches, model)
        for batch in batches:
            solver.check_batch(batch.graph)
            solver.check_memory(batch.graph.num_graphs, model.hidden, config.itemsize(model.family))
    return solver


def _fitted(solver, batches, model):
    """``solver`` fitted to ``batches`` when it is a Newton one (`Newton.fitted`), reusing
    factorisations where they are dear for ``model`` (`Newton.economised`)."""
    if not isinstance(solver, Newton):
        return solver
    solver = solver.fitted([batch.graph for batch in batches])
    return solver.economised(model, batches[0].graph)


def _sizes(data: Dataset, batches) -> tuple[list, list[int]]:
    """Every graph of ``data`` (what sizes a solver) and the graph count of each batch."""
    graphs = [g for split in data.splits().values() for g in split]
    return graphs, [batch.graph.num_graphs for batch in batches]


def check_solver(model, data: Dataset, config: TrainConfig):
    """The forward solver training ``model`` on ``data`` will use (None: explicit), built
    now so that a solver that cannot serve (Newton's blocks too large) raises ValueError
    before a run directory is written or anything compiled. Only energy models' solvers
    depend on the batches; the others are built without making them. A ``distance`` task
    whose batches are too large for its all-pairs loss is refused here too."""
    if data.kind == "distance":
        for split in (data.train, data.validation, data.test):
            for batch in make_batches(split, data.level, config.batch_size, config.dtype):
                check_pair_nodes(batch.graph.node_mask.shape[0])
    if model.family != "optimisation":
        return config.solver(model.family)
    return _setup(model, data, config).solver


def _setup(model, data: Dataset, config: TrainConfig) -> _Setup:
    level, dtype = data.level, config.dtype
    config.enable_precision(model.family)
    train = make_batches(data.train, level, config.batch_size, dtype)
    validation = make_batches(data.validation, level, config.batch_size, dtype)
    optimiser = make_optimiser(
        config.learning_rate,
        config.decay_rate,
        config.decay_every,
        config.weight_decay,
        len(train),
        config.clip_norm,
        config.spike_guard is not None,
        config.coupled_weight_decay,
    )
    batches = train + validation
    solver = sized_solver(model, data, config, batches)
    fallback = config.auto_fallback(model.family, *_sizes(data, batches), model.hidden)
    return _Setup(
        train=train,
        validation=validation,
        kind=data.kind,
        optimiser=optimiser,
        solver=_fitted(solver, train, model),
        adjoint=config.adjoint(model.family),
        validation_solver=_fitted(solver, validation, model),
        fallback=_fitted(fallback, train, model),
        validation_fallback=_fitted(fallback, validation, model),
    )


def switched(setup: _Setup, record: dict, model) -> _Setup | None:
    """``setup`` with "auto"'s Newton in place of L-BFGS when the history ``record`` shows
    L-BFGS outpaced (forward steps + adjoint products per solve against what a Newton step
    costs on the first training batch, local Hessians and factorisations:
    `Newton.step_cost`, `Newton.outpaces`), else None."""
    if setup.fallback is None:
        return None
    cost = setup.fallback.step_cost(model, setup.train[0].graph)
    if not setup.fallback.outpaces(record["solver_steps"] + record["adjoint_steps"], cost):
        return None
    return setup.on_fallback()


def _zeros(batches, hidden) -> tuple:
    return tuple(jnp.zeros((b.graph.num_nodes, hidden), b.graph.nodes.dtype) for b in batches)


def initial_state(model, data: Dataset, config: TrainConfig = TrainConfig()) -> TrainingState:
    """The state before the first epoch (also the skeleton a saved state is loaded into).

    With ``config.standardise_targets`` the model gets the training split's target scale.
    """
    if config.standardise_targets:
        model = with_target_scale(model, target_scale(data))
    setup = _setup(model, data, config)
    opt_state = setup.optimiser.init(eqx.filter(model, eqx.is_inexact_array))
    train_states = _zeros(setup.train, model.hidden)
    guarded = config.spike_guard is not None
    return TrainingState(
        epoch=0,
        model=model,
        opt_state=opt_state,
        train_states=train_states,
        validation_states=_zeros(setup.validation, model.hidden),
        best_model=model,
        guard=(model, opt_state, train_states) if guarded else None,
    )


def _divergence(out) -> str | None:
    """Why a training step diverged, or None."""
    return divergence_reason(out.loss, out.finite, out.forward.residual, out.adjoint.residual)


def divergence_reason(loss, finite, forward, adjoint) -> str | None:
    """Why a step with this ``loss``, parameters ``finite`` or not, and ``forward`` /
    ``adjoint`` solve residuals diverged, or None."""
    loss, forward, adjoint = float(loss), float(forward), float(adjoint)
    if not math.isfinite(loss):
        return f"training loss is {loss}"
    if not bool(finite):
        return "parameters are not finite after the optimiser step"
    if not math.isfinite(forward):
        return f"a forward solve ended at residual {forward}"
    if not math.isfinite(adjoint):
        return f"an adjoint (backward) solve ended at residual {adjoint}"
    return None


def _train_epoch(state: TrainingState, setup: _Setup):
    """One pass over the training batches: ((model, opt_state, warm starts, mean loss) or
    None, the (forward, adjoint) stats of every step, why it diverged or None)."""
    model, opt_state, h = state.model, state.opt_state, list(state.train_states)
    losses, stats = [], []
    for k, batch in enumerate(setup.train):
        out = train_step(
            model, opt_state, batch, h[k], setup.optimiser, setup.kind, setup.solver, setup.adjoint
        )
        stats.append((out.forward, out.adjoint))
        problem = _divergence(out)
        if problem is not None:
            return None, stats, problem
        model, opt_state, h[k] = out.model, out.opt_state, out.states
        losses.append(float(out.loss))
    return (model, opt_state, tuple(h), float(np.mean(losses))), stats, None


def evaluate_batches(model, batches, states, kind, solver, summary: SolverSummary):
    """(metrics, new warm starts) of ``model`` on fixed ``batches`` from ``states``."""
    sums, new = [], []
    for batch, h in zip(batches, states):
        s, h, stats, _ = eval_step(model, batch, h, kind, solver)
        sums.append(s)
        new.append(h)
        summary.add(stats)
    return metrics_from_sums(kind, sums), tuple(new)


def history_record(epoch, train_loss, val, total, forward, adjoint, seconds) -> dict:
    """One `history.jsonl` line: losses, validation metrics, the mean forward steps since
    the start (``total``) and the ``forward`` / ``adjoint`` statistics since the last line."""
    f, a = forward.as_dict(), adjoint.as_dict()
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        **{f"validation_{k}": v for k, v in val.items()},
        "solver_mean_steps": total.as_dict()["mean_steps"],
        "solver_steps": f["mean_steps"],
        "solver_unconverged": f["unconverged"],
        "solver_max_residual": f["max_residual"],
        "adjoint_steps": a["mean_steps"],
        "adjoint_unconverged": a["unconverged"],
        "adjoint_max_residual": a["max_residual"],
        "seconds": seconds,
    }


def conditioning_record(model, graph, h, epoch: int, config: TrainConfig) -> dict:
    """K₁, μ and K₁/μ of an energy model's Hessian at H* = ``h`` on ``graph`` (the first
    training batch; Lanczos, `hogwild.solve.condition_number`) every
    ``config.condition_every`` epochs, else {}."""
    every = config.condition_every
    if model.family != "optimisation" or not every or epoch % every:
        return {}
    k1, mu = (float(x) for x in condition_number(model, graph, h))
    return {"hessian_max": k1, "hessian_min": mu, "condition": k1 / mu}


def stop_reason(epoch: int, best_epoch: int, config: TrainConfig) -> str | None:
    """Why training stops after ``epoch`` (patience or the epoch budget), or None."""
    if epoch - best_epoch >= config.patience:
        return f"early stop: no better validation loss for {config.patience} epochs"
    return "max_epochs" if epoch >= config.epochs else None


class _Loop:
    """The epochs of `fit`: ``run(state)`` returns (final state, why it stopped, diverged)."""

    def __init__(self, setup: _Setup, config: TrainConfig, progress, checkpoint, every, seconds):
        self.setup, self.config, self.progress = setup, config, progress
        self.checkpoint, self.every, self.seconds = checkpoint, every, seconds
        self.started = self.last_saved = time.perf_counter()
        self.base_seconds = 0.0  # training time of earlier sessions (a continued run)
        self.interval = (SolverSummary(), SolverSummary())  # since the last history record

    def _counted(self, state: TrainingState, stats):
        forward, adjoint = dataclasses.replace(state.forward), dataclasses.replace(state.adjoint)
        for f, a in stats:
            for summary, s in zip((forward, adjoint, *self.interval), (f, a, f, a)):
                summary.add(s)
        return forward, adjoint

    def _record(self, epoch, train_loss, val, total, seconds) -> dict:
        record = history_record(epoch, train_loss, val, total, *self.interval, seconds)
        self.interval = (SolverSummary(), SolverSummary())
        return record

    def _next(self, state: TrainingState, epoch: int, trained, forward, adjoint) -> dict:
        """The fields of the state after ``epoch`` (before evaluation): what it ``trained``,
        undone by the spike guard when its loss spiked."""
        model, opt_state, h, train_loss = trained
        nxt = dict(
            epoch=epoch,
            model=model,
            opt_state=opt_state,
            train_states=h,
            forward=forward,
            adjoint=adjoint,
            seconds=self.base_seconds + time.perf_counter() - self.started,
        )
        guard = self.config.spike_guard
        nxt.update(snapshot_fields(state, train_loss, guard))
        nxt.update(rollback_fields(state, train_loss, guard))
        return nxt

    def _epoch(self, state: TrainingState, epoch: int):
        """(state after ``epoch``, None), or (``state`` unchanged, why training diverged)."""
        trained, stats, problem = _train_epoch(state, self.setup)
        forward, adjoint = self._counted(state, stats)
        if problem is not None:
            if not rolls_back(state, math.inf, self.config.spike_guard):
                return dataclasses.replace(state, forward=forward, adjoint=adjoint), problem
            # the spike guard undoes a divergence as it undoes a spike (an infinite loss)
            trained = (state.model, state.opt_state, state.train_states, math.inf)
        train_loss = trained[-1]
        nxt = self._next(state, epoch, trained, forward, adjoint)
        model, h, seconds = nxt["model"], nxt["train_states"], nxt["seconds"]
        if epoch % self.config.eval_every and epoch != self.config.epochs:
            return dataclasses.replace(state, **nxt), None
        val, val_states = evaluate_batches(
            model,
            self.setup.validation,
            state.validation_states,
            self.setup.kind,
            self.setup.validation_solver,
            SolverSummary(),
        )
        if not math.isfinite(val["loss"]):
            return dataclasses.replace(state, forward=forward, adjoint=adjoint), (
                f"validation loss is {val['loss']}"
            )
        if val["loss"] < state.best_loss:
            nxt.update(best_model=model, best_loss=val["loss"], best_epoch=epoch)
        record = self._record(epoch, train_loss, val, forward, seconds)
        if self.config.spike_guard is not None:
            record["rollbacks"] = nxt.get("rollbacks", state.rollbacks)
            if "rollbacks" in nxt:  # this epoch's loss spiked: back to the snapshot's epoch
                record["rolled_back_to"] = state.guard_epoch
            if problem is not None:
                record["diverged"] = problem
        record.update(
            conditioning_record(model, self.setup.train[0].graph, h[0], epoch, self.config)
        )
        self._maybe_switch(record, model)
        state = dataclasses.replace(
            state, **nxt, validation_states=val_states, history=(*state.history, record)
        )
        if self.progress is not None:
            self.progress(record)
        self._maybe_checkpoint(state)
        return state, None

    def _maybe_switch(self, record: dict, model) -> None:
        """Hand the solves to "auto"'s Newton once L-BFGS is the slower; the record says
        so (``"solver": "newton"``), which is how a continued run knows."""
        setup = switched(self.setup, record, model)
        if setup is not None:
            self.setup = setup
            record["solver"] = "newton"

    def _maybe_checkpoint(self, state: TrainingState) -> None:
        """Hand ``state`` to the checkpoint callback when one is due (only at evaluated
        epochs, so a continued run's history is the same as an uninterrupted one's)."""
        if self.checkpoint is None:
            return
        now = time.perf_counter()
        due = state.epoch % self.every == 0 if self.every else now - self.last_saved >= self.seconds
        if due:
            self.checkpoint(state)
            self.last_saved = time.perf_counter()

    def run(self, state: TrainingState):
        self.base_seconds = state.seconds
        if self.setup.fallback is not None and any("solver" in r for r in state.history):
            self.setup = self.setup.on_fallback()
        try:
            for epoch in range(state.epoch + 1, self.config.epochs + 1):
                state, problem = self._epoch(state, epoch)
                if problem is not None:
                    return state, f"diverged at epoch {epoch}: {problem}", True
                stopped = stop_reason(epoch, state.best_epoch, self.config)
                if stopped is not None:
                    return state, stopped, False
        except KeyboardInterrupt:
            return state, f"interrupted during epoch {state.epoch + 1}", False
        return state, "max_epochs", False


def fit(
    model,
    data: Dataset,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[dict], None] | None = None,
    *,
    state: TrainingState | None = None,
    checkpoint: Callable[[TrainingState], None] | None = None,
    checkpoint_every: int | None = None,
    checkpoint_seconds: float = 120.0,
) -> FitResult:
    """Train ``model`` on ``data.train``; keep the parameters with the best validation loss.

    Stops after ``config.epochs`` epochs, after ``config.patience`` epochs without a better
    validation loss, when training diverges (non-finite loss, parameters, solve residual or
    validation loss: ``diverged`` is set), or on KeyboardInterrupt (Ctrl-C; the CLI turns
    SIGTERM into one); the best model so far is kept and ``stopped`` says why.

    Args:
        state: continue from this `TrainingState` (of this model, data and config) instead
            of starting at epoch 0; the result is the same as never having stopped.
        checkpoint: called with the current state every ``checkpoint_every`` epochs, or
            when ``checkpoint_seconds`` have passed since the last call (None: never).
    """
    setup = _setup(model, data, config)
    state = initial_state(model, data, config) if state is None else state
    loop = _Loop(setup, config, progress, checkpoint, checkpoint_every, checkpoint_seconds)
    state, stopped, diverged = loop.run(state)
    return FitResult.from_state(state, stopped, diverged)


def evaluate(model, data: Dataset, config: TrainConfig = TrainConfig()) -> dict:
    """Metrics and solver statistics of ``model`` on every split, solved from cold starts
    with the evaluation budget (``config.eval_solver``); a split whose solves did not all
    converge says so in its ``solver`` counters (``unconverged``)."""
    config.enable_precision(model.family)
    splits = {
        name: make_batches(graphs, data.level, config.batch_size, config.dtype)
        for name, graphs in data.splits().items()
    }
    every = [b for batches in splits.values() for b in batches]
    solver = sized_solver(model, data, config, every, evaluation=True)
    out = {}
    for name, batches in splits.items():
        summary = SolverSummary()
        metrics, _ = evaluate_batches(
            model,
            batches,
            _zeros(batches, model.hidden),
            data.kind,
            solver,
            summary,
        )
        out[name] = {**metrics, "solver": summary.as_dict()}
    out["primary_metric"] = primary_metric(data.kind)
    return out
