"""Many runs, one program: a group of training runs stacked on a leading axis.

Members of a group differ in their parameter seed and, when their batches have the same
padded shapes, in their data (Table 1's folds). Every epoch runs one compiled
`group_train_step` per batch (``eqx.filter_vmap`` over parameters, optimiser states, warm
starts and, for folds, batches) instead of one step per run: on CPU the fixed cost of a
step, which dominates on small graphs, is paid once for the group.

Each member keeps everything `fit` keeps — its own best-on-validation parameters, early
stopping, divergence (a member that diverges stops and keeps its best model; the others go
on), solver counters and history — and its result equals a separate `fit` of that member
up to floating-point reassociation. Solver loops under ``vmap`` run until the slowest
member has converged; a member that has stopped takes no solver steps (zero loss weight,
converged warm start) but still occupies its slot, so when at most half the slots are
active the group is re-stacked with the active members only (one more compilation).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..solve import Newton
from ..tasks import Dataset
from ._config import TrainConfig
from ._fit import (
    FitResult,
    _setup,
    conditioning_record,
    divergence_reason,
    history_record,
    stop_reason,
    switched,
)
from ._objective import metrics_from_sums
from ._state import SolverSummary, TrainingState
from ._step import group_eval_step, group_train_step, select


def stack(trees: list):
    """One tree whose array leaves are the members' leaves stacked on a new axis 0."""
    arrays = [eqx.filter(t, eqx.is_array) for t in trees]
    static = eqx.filter(trees[0], eqx.is_array, inverse=True)
    return eqx.combine(jax.tree.map(lambda *x: jnp.stack(x), *arrays), static)


def member(tree, i: int):
    """Member ``i`` of a `stack`-ed tree."""
    return jax.tree.map(lambda x: x[i] if eqx.is_array(x) else x, tree)


def batch_signature(data: Dataset, config: TrainConfig) -> tuple:
    """The padded shapes of ``data``'s training and validation batches: runs whose data
    have equal signatures can share one program."""
    setup = _setup_batches(data, config)
    return tuple(
        tuple(leaf.shape for leaf in jax.tree.leaves(batch)) for batch in setup[0] + setup[1]
    )


def _setup_batches(data: Dataset, config: TrainConfig) -> tuple[list, list]:
    from ._batch import make_batches

    train = make_batches(data.train, data.level, config.batch_size, config.dtype)
    return train, make_batches(data.validation, data.level, config.batch_size, config.dtype)


@dataclasses.dataclass
class _Slot:
    """One member's bookkeeping: its `TrainingState` without arrays (numbers only), the
    solver statistics since its last history record, and why it stopped (None: active)."""

    index: int
    numbers: TrainingState
    interval: tuple = dataclasses.field(default_factory=lambda: (SolverSummary(), SolverSummary()))
    stopped: str | None = None
    diverged: bool = False
    losses: list = dataclasses.field(default_factory=list)
    handed_over: bool = False


@dataclasses.dataclass
class _Arrays:
    """The stacked arrays of the active slots."""

    models: object
    opt_states: object
    train_states: list
    validation_states: list
    best_models: object

    @classmethod
    def of(cls, states: list[TrainingState]) -> _Arrays:
        return cls(
            stack([s.model for s in states]),
            stack([s.opt_state for s in states]),
            [stack(list(h)) for h in zip(*(s.train_states for s in states))],
            [stack(list(h)) for h in zip(*(s.validation_states for s in states))],
            stack([s.best_model for s in states]),
        )

    def state(self, k: int, numbers: TrainingState) -> TrainingState:
        """Slot ``k``'s full `TrainingState`."""
        return dataclasses.replace(
            numbers,
            model=member(self.models, k),
            opt_state=member(self.opt_states, k),
            train_states=tuple(member(h, k) for h in self.train_states),
            validation_states=tuple(member(h, k) for h in self.validation_states),
            best_model=member(self.best_models, k),
        )


def _stacked_batches(setups) -> tuple[list, list]:
    """The training and validation batches: shared when every member has the same data,
    else stacked member by member (equal shapes: `batch_signature`)."""
    first = setups[0]
    if all(s is first for s in setups):
        return first.train, first.validation
    train = [stack([s.train[k] for s in setups]) for k in range(len(first.train))]
    validation = [stack([s.validation[k] for s in setups]) for k in range(len(first.validation))]
    return train, validation


def _widened(setups, field: str, split: str):
    """The first member's ``field`` solver; a Newton one joined over every member's plan
    and fitted to every member's ``split`` batches (`Newton.joined`, `Newton.fitted`):
    members with other folds or data may hold other graphs."""
    solver = getattr(setups[0], field)
    if not isinstance(solver, Newton):
        return solver
    joined = Newton.joined([getattr(s, field) for s in setups])
    return joined.fitted([batch.graph for s in setups for batch in getattr(s, split)])


def _shared_setup(setups) -> object:
    """The first member's setup, with its solvers and "auto"'s Newton fallbacks sized for
    every member's graphs."""
    return dataclasses.replace(
        setups[0],
        solver=_widened(setups, "solver", "train"),
        validation_solver=_widened(setups, "validation_solver", "validation"),
        fallback=_widened(setups, "fallback", "train"),
        validation_fallback=_widened(setups, "validation_fallback", "validation"),
    )


class _GroupLoop:
    """The epochs of `fit_group`."""

    def __init__(self, models, datasets, config, states, hooks):
        self.config, self.hooks = config, hooks
        setups, cache = [], {}
        for model, data in zip(models, datasets):
            if id(data) not in cache:
                cache[id(data)] = _setup(model, data, config)
            setups.append(cache[id(data)])
        self.setup, self.member_model = _shared_setup(setups), models[0]
        self.first_graphs = [s.train[0].graph for s in setups]
        self.slots = [_Slot(i, _numbers_only(s)) for i, s in enumerate(states)]
        if self.setup.fallback is not None and all(
            any("solver" in r for r in slot.numbers.history) for slot in self.slots
        ):  # continued after "auto" handed the solves to Newton
            self.setup = self.setup.on_fallback()
        self.arrays = _Arrays.of(states)
        self.members = list(range(len(states)))  # member index of each stacked position
        self.train, self.validation = _stacked_batches(setups)
        self.started = self.last_saved = time.perf_counter()

    # -- one epoch -------------------------------------------------------------------

    def _active(self) -> jax.Array:
        return jnp.asarray([self.slots[i].stopped is None for i in self.members])

    def _train_epoch(self, epoch: int) -> None:
        a, setup = self.arrays, self.setup
        for i in self.members:
            self.slots[i].losses = []
        for k, batch in enumerate(self.train):
            out = group_train_step(
                a.models,
                a.opt_states,
                batch,
                a.train_states[k],
                self._active(),
                setup.optimiser,
                setup.kind,
                setup.solver,
                setup.adjoint,
            )
            a.models, a.opt_states, a.train_states[k] = out.model, out.opt_state, out.states
            self._count(out, epoch)

    def _count(self, out, epoch: int) -> None:
        """Count each active member's solves; stop a member whose step diverged."""
        host = jax.device_get((out.loss, out.finite, out.forward, out.adjoint))
        loss, finite, forward, adjoint = host
        for k, i in enumerate(self.members):
            slot = self.slots[i]
            if slot.stopped is not None:
                continue
            f, a = member(forward, k), member(adjoint, k)
            for summary, stats in zip((slot.numbers.forward, slot.numbers.adjoint), (f, a)):
                summary.add(stats)
            for summary, stats in zip(slot.interval, (f, a)):
                summary.add(stats)
            problem = divergence_reason(loss[k], finite[k], f.residual, a.residual)
            if problem is not None:
                self._stop(i, f"diverged at epoch {epoch}: {problem}", diverged=True)
            else:
                slot.losses.append(float(loss[k]))

    def _evaluate(self, epoch: int) -> None:
        """Validation metrics of every active member; best models, history, stopping."""
        a, setup = self.arrays, self.setup
        sums = []
        for k, batch in enumerate(self.validation):
            s, h, _ = group_eval_step(
                a.models, batch, a.validation_states[k], setup.kind, setup.validation_solver
            )
            a.validation_states[k] = h
            sums.append(jax.device_get(s))
        improved = np.zeros(len(self.members), bool)
        for k, i in enumerate(self.members):
            if self.slots[i].stopped is None:
                val = metrics_from_sums(setup.kind, [member(s, k) for s in sums])
                improved[k] = self._record(i, k, epoch, val)
        if improved.any():
            keep = jnp.asarray(improved)
            a.best_models = eqx.filter_vmap(select)(keep, a.models, a.best_models)
        self._maybe_switch(epoch)

    def _maybe_switch(self, epoch: int) -> None:
        """ "auto"'s hand-over to Newton (`hogwild.train._fit.switched`), for the whole group
        (one shared solver) once L-BFGS is outpaced in every active member's record of
        ``epoch``; those records say so (``"solver": "newton"``), as `fit`'s do."""
        records = list(self._latest(epoch).values())
        after = [switched(self.setup, r, self.member_model) for r in records]
        if records and all(setup is not None for setup in after):
            self.setup = after[0]
            for record in records:
                record["solver"] = "newton"

    def _record(self, i: int, k: int, epoch: int, val: dict) -> bool:
        """Member ``i`` (stacked at ``k``) after an evaluated ``epoch``; whether its
        validation loss improved."""
        slot = self.slots[i]
        if not np.isfinite(val["loss"]):
            self._stop(i, f"diverged at epoch {epoch}: validation loss is {val['loss']}", True)
            return False
        numbers, better = slot.numbers, val["loss"] < slot.numbers.best_loss
        if better:
            numbers = dataclasses.replace(numbers, best_loss=val["loss"], best_epoch=epoch)
        seconds = slot.numbers.seconds + time.perf_counter() - self.started
        record = history_record(
            epoch,
            float(np.mean(slot.losses)),
            val,
            numbers.forward,
            *slot.interval,
            seconds,
        )
        model, graph = member(self.arrays.models, k), self.first_graphs[i]
        h = member(self.arrays.train_states[0], k)
        record.update(conditioning_record(model, graph, h, epoch, self.config))
        slot.numbers = dataclasses.replace(numbers, history=(*numbers.history, record))
        slot.interval = (SolverSummary(), SolverSummary())
        return better

    # -- stopping, saving, re-stacking ---------------------------------------------

    def _stop(self, i: int, why: str, diverged: bool = False) -> None:
        slot = self.slots[i]
        slot.stopped, slot.diverged = why, diverged

    def _state(self, i: int) -> TrainingState:
        seconds = self.slots[i].numbers.seconds + time.perf_counter() - self.started
        numbers = dataclasses.replace(self.slots[i].numbers, seconds=seconds)
        return self.arrays.state(self.members.index(i), numbers)

    def _end_epoch(self, epoch: int, evaluated: bool) -> None:
        for i in self.members:
            slot = self.slots[i]
            if slot.stopped is None:
                slot.numbers = dataclasses.replace(slot.numbers, epoch=epoch)
                if evaluated:
                    slot.stopped = stop_reason(epoch, slot.numbers.best_epoch, self.config)
        if evaluated:
            self._maybe_checkpoint(epoch)
        self._finish_stopped()

    def _finish_stopped(self) -> None:
        """Hand every member that has stopped to ``finished`` (once); re-stack when at
        most half the slots are still active."""
        for i in self.members:
            slot = self.slots[i]
            if slot.stopped is not None and not slot.handed_over:
                slot.handed_over = True
                self.hooks.finished(i, self._result(i))
        active = [i for i in self.members if self.slots[i].stopped is None]
        if not active:
            self.members = []
        elif len(active) <= len(self.members) // 2:
            self._restack(active)

    def _restack(self, active: list[int]) -> None:
        """Keep only the ``active`` members in the stacked arrays (and stacked batches)."""
        states = [self._state(i) for i in active]
        positions = [self.members.index(i) for i in active]
        for i, state in zip(active, states):
            self.slots[i].numbers = dataclasses.replace(
                self.slots[i].numbers, seconds=state.seconds
            )
        self.started = time.perf_counter()
        self.arrays, self.members = _Arrays.of(states), active
        if self.train[0].graph.nodes.ndim == 3:  # batches stacked per member
            self.train = [_take(b, positions) for b in self.train]
            self.validation = [_take(b, positions) for b in self.validation]

    def _result(self, i: int) -> FitResult:
        state, slot = self._state(i), self.slots[i]
        return FitResult.from_state(state, slot.stopped, slot.diverged)

    def _maybe_checkpoint(self, epoch: int) -> None:
        if self.hooks.checkpoint is None:
            return
        every, now = self.hooks.checkpoint_every, time.perf_counter()
        due = epoch % every == 0 if every else now - self.last_saved >= self.hooks.seconds
        if due:
            for i in self.members:
                if self.slots[i].stopped is None:
                    self.hooks.checkpoint(i, self._state(i))
            self.last_saved = time.perf_counter()

    def _snapshot(self) -> tuple:
        """Everything an epoch changes, to return to when it is interrupted: the stacked
        arrays and batches, which members are stacked, and each member's numbers."""
        arrays = dataclasses.replace(
            self.arrays,
            train_states=list(self.arrays.train_states),
            validation_states=list(self.arrays.validation_states),
        )
        numbers = {
            i: (
                dataclasses.replace(
                    s.numbers,
                    forward=dataclasses.replace(s.numbers.forward),
                    adjoint=dataclasses.replace(s.numbers.adjoint),
                ),
                tuple(dataclasses.replace(x) for x in s.interval),
                s.stopped,
                s.diverged,
            )
            for i, s in enumerate(self.slots)
        }
        return arrays, list(self.members), self.train, self.validation, numbers

    def _restore(self, snapshot: tuple) -> None:
        """Back to the end of the last completed epoch; members already handed over keep
        their final state."""
        self.arrays, self.members, self.train, self.validation, numbers = snapshot
        for i, (state, interval, stopped, diverged) in numbers.items():
            slot = self.slots[i]
            if not slot.handed_over:
                slot.numbers, slot.interval = state, interval
                slot.stopped, slot.diverged = stopped, diverged

    def run(self, first_epoch: int) -> None:
        epoch, snapshot = first_epoch, self._snapshot()
        try:
            for epoch in range(first_epoch, self.config.epochs + 1):
                snapshot = self._snapshot()
                self._train_epoch(epoch)
                evaluated = not epoch % self.config.eval_every or epoch == self.config.epochs
                if evaluated:
                    self._evaluate(epoch)
                    if self.hooks.progress is not None:
                        self.hooks.progress(epoch, self._latest(epoch))
                self._end_epoch(epoch, evaluated)
                if not self.members:
                    return
        except KeyboardInterrupt:
            self._restore(snapshot)  # an interrupted epoch leaves no trace
            for i in self.members:
                if self.slots[i].stopped is None:
                    self._stop(i, f"interrupted during epoch {epoch}")
            self._finish_stopped()
            raise

    def _latest(self, epoch: int) -> dict[int, dict]:
        """The history record of ``epoch`` of every member that has one."""
        return {
            s.index: s.numbers.history[-1]
            for s in self.slots
            if s.numbers.history and s.numbers.history[-1]["epoch"] == epoch
        }


def _numbers_only(state: TrainingState) -> TrainingState:
    """``state`` without its arrays, with its own solver counters (they are updated)."""
    return dataclasses.replace(
        state,
        model=None,
        opt_state=None,
        train_states=(),
        validation_states=(),
        best_model=None,
        forward=dataclasses.replace(state.forward),
        adjoint=dataclasses.replace(state.adjoint),
    )


def _take(batch, positions: list[int]):
    index = jnp.asarray(positions)
    return jax.tree.map(lambda x: x[index] if eqx.is_array(x) else x, batch)


@dataclasses.dataclass(frozen=True)
class GroupHooks:
    """Callbacks of `fit_group`: ``finished(i, FitResult)`` as soon as member i stops,
    ``checkpoint(i, TrainingState)`` every ``checkpoint_every`` epochs (None: every
    ``seconds``), ``progress(epoch, {i: history record})`` at evaluated epochs."""

    finished: Callable[[int, FitResult], None]
    checkpoint: Callable[[int, TrainingState], None] | None = None
    checkpoint_every: int | None = None
    seconds: float = 120.0
    progress: Callable[[int, dict], None] | None = None


def fit_group(models, datasets, config: TrainConfig, hooks: GroupHooks, states=None) -> None:
    """Train ``models[i]`` on ``datasets[i]`` for every i in one compiled program per batch.

    Every member is trained as `fit` would train it alone (same ``config``; the seeds are in
    the models) and handed to ``hooks.finished`` as soon as it stops (patience, the epoch
    budget, divergence, or Ctrl-C: then every active member is handed over as interrupted
    and KeyboardInterrupt propagates). Datasets must be the same object or have equal
    `batch_signature`. ``states``: continue from these `TrainingState`s, all after the same
    epoch (from `initial_state` when None).
    """
    from ._fit import initial_state

    if config.spike_guard is not None:
        raise ValueError(
            "`spike_guard` rolls back one run at a time: train its runs one by one, not stacked."
        )
    if states is None:
        states = [initial_state(m, d, config) for m, d in zip(models, datasets)]
    epochs = {s.epoch for s in states}
    if len(epochs) != 1:
        raise ValueError(f"a group continues from one epoch; got {sorted(epochs)}.")
    models = [s.model for s in states]
    loop = _GroupLoop(models, datasets, config, states, hooks)
    loop.run(epochs.pop() + 1)
