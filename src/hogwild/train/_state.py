"""What training carries from epoch to epoch, so that a run can stop and continue exactly.

A `TrainingState` holds arrays (parameters, optimiser state, warm starts, the best model)
and plain numbers (epoch, best validation loss, history, solver counters). Continuing
from a saved state replays the same computation as never stopping: the batches are fixed,
the optimiser's schedule lives in its state, and every warm start is kept.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass
class SolverSummary:
    """Statistics of solves (forward or adjoint) accumulated over an epoch range."""

    solves: int = 0
    steps: int = 0
    max_steps: int = 0
    unconverged: int = 0
    max_residual: float = 0.0

    def add(self, stats) -> None:
        steps, residual = int(stats.steps), float(stats.residual)
        self.solves += 1
        self.steps += steps
        self.max_steps = max(self.max_steps, steps)
        self.unconverged += int(not bool(stats.converged))
        if math.isnan(residual) or math.isnan(self.max_residual):
            self.max_residual = math.nan  # max() would drop it: NaN is a sign of divergence
        else:
            self.max_residual = max(self.max_residual, residual)

    @property
    def finite(self) -> bool:
        return math.isfinite(self.max_residual)

    def as_dict(self) -> dict:
        mean = self.steps / max(self.solves, 1)
        return {
            "solves": self.solves,
            "mean_steps": mean,
            "max_steps": self.max_steps,
            "unconverged": self.unconverged,
            "max_residual": self.max_residual,
        }


@dataclasses.dataclass(frozen=True)
class TrainingState:
    """Training after ``epoch`` completed epochs (0: before the first).

    Arrays: ``model``, ``opt_state``, ``train_states`` / ``validation_states`` (per-batch
    warm starts), ``best_model``. Numbers: ``best_loss`` / ``best_epoch`` (best validation
    loss so far), ``history`` (one record per evaluated epoch), ``forward`` / ``adjoint``
    (solver counters since the start), ``seconds`` of training so far.
    """

    epoch: int
    model: object
    opt_state: object
    train_states: tuple
    validation_states: tuple
    best_model: object
    best_loss: float = math.inf
    best_epoch: int = 0
    history: tuple = ()
    forward: SolverSummary = dataclasses.field(default_factory=SolverSummary)
    adjoint: SolverSummary = dataclasses.field(default_factory=SolverSummary)
    seconds: float = 0.0
    guard: tuple | None = None
    guard_loss: float = math.inf
    guard_epoch: int = 0
    rollbacks: int = 0

    def arrays(self) -> tuple:
        """The array part, serialised leaf by leaf into a checkpoint (the guard's snapshot
        last, when there is one)."""
        arrays = (
            self.model,
            self.opt_state,
            self.train_states,
            self.validation_states,
            self.best_model,
        )
        return arrays if self.guard is None else (*arrays, self.guard)

    def numbers(self) -> dict:
        """The JSON part."""
        return {
            "epoch": self.epoch,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "history": list(self.history),
            "forward": dataclasses.asdict(self.forward),
            "adjoint": dataclasses.asdict(self.adjoint),
            "seconds": self.seconds,
            **({} if self.guard is None else self._guard_numbers()),
        }

    def _guard_numbers(self) -> dict:
        return {
            "guard_loss": self.guard_loss,
            "guard_epoch": self.guard_epoch,
            "rollbacks": self.rollbacks,
        }

    def restored(self, arrays: tuple, numbers: dict) -> TrainingState:
        """This state (a skeleton of the right shapes) with saved ``arrays`` and ``numbers``."""
        model, opt_state, train_states, validation_states, best_model, *guard = arrays
        return TrainingState(
            epoch=int(numbers["epoch"]),
            model=model,
            opt_state=opt_state,
            train_states=tuple(train_states),
            validation_states=tuple(validation_states),
            best_model=best_model,
            best_loss=float(numbers["best_loss"]),
            best_epoch=int(numbers["best_epoch"]),
            history=tuple(numbers["history"]),
            forward=SolverSummary(**numbers["forward"]),
            adjoint=SolverSummary(**numbers["adjoint"]),
            seconds=float(numbers["seconds"]),
            guard=guard[0] if guard else None,
            guard_loss=float(numbers.get("guard_loss", math.inf)),
            guard_epoch=int(numbers.get("guard_epoch", 0)),
            rollbacks=int(numbers.get("rollbacks", 0)),
        )
