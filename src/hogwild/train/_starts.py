"""Multi-start: choose a run's initialisation on validation data before training it.

Some parameter seeds never learn a task: on counting, parameter seed 1 of the edge-wise
energy GNN ended 10–42 % in all ten folds of Table 1 while the other seeds reached 4.8 %
on average, and a failing seed shows early — at epoch 400 it had the worst validation
loss of the five seeds in every fold (``runs/starts32/early.py``).
With ``starts`` = S > 1 a run trains S initialisations θ_c (seeds `start_seed`) for
``start_epochs`` = E epochs each and continues the one with the best validation loss,

    c* = argmin_c  min_{e ≤ E} L_val(θ_c, e),

to the full budget, exactly as if it had been trained alone (same optimiser state,
history and best model). Only validation data choose; S = 1 is the plain run.

Each trial is saved in ``DIR/start-c.eqx`` as it trains, so an interrupted selection
continues where it stopped; ``DIR/starts.json`` records the trials and the choice, and the
run's ``metrics.json`` repeats it under ``"starts"``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from ._checkpoint import save_checkpoint, write_json
from ._fit import fit, initial_state
from ._signals import HeldInterrupts
from ._state import TrainingState


def start_seed(seed: int, start: int) -> int:
    """The parameter seed of initialisation ``start`` of a run with ``seed``: ``seed``
    itself for start 0, else a 31-bit seed drawn from (seed, start) by NumPy's
    `SeedSequence` (distinct from every plain seed a user is likely to pick)."""
    if start == 0:
        return seed
    return int(np.random.SeedSequence((seed, start)).generate_state(1)[0] >> 1)


@dataclasses.dataclass(frozen=True)
class Trial:
    """One initialisation after its trial epochs: its state and why it stopped."""

    start: int
    seed: int
    state: TrainingState
    stopped: str

    @property
    def diverged(self) -> bool:
        return self.stopped.startswith("diverged")

    def summary(self) -> dict:
        return {
            "start": self.start,
            "seed": self.seed,
            "best_validation_loss": self.state.best_loss,
            "best_epoch": self.state.best_epoch,
            "epochs_run": self.state.epoch,
            "stopped": self.stopped,
            "seconds": self.state.seconds,
        }


def chosen_start(config, out: Path, data, spec, log=None, progress=None) -> TrainingState | None:
    """The training state to continue run ``config`` in ``out`` from: the best of
    ``config.train.starts`` trial initialisations on validation loss (None with one start:
    the run starts from its own seed). ``progress`` gets each trial's history records,
    marked with ``"start": c``. Raises KeyboardInterrupt, after saving the trial in
    progress, when interrupted."""
    train = config.train
    if train.starts == 1:
        return None
    trial_config = dataclasses.replace(train, epochs=min(train.start_epochs, train.epochs))
    trials = [
        _trial(config, trial_config, out, data, spec, start, log, progress)
        for start in range(train.starts)
    ]
    chosen = min(trials, key=lambda t: (t.diverged, _loss(t)))
    write_json(
        out / "starts.json",
        {"chosen": chosen.start, "trials": [t.summary() for t in trials]},
    )
    if log is not None:
        log(
            f"{out}: continuing start {chosen.start} (seed {chosen.seed}, best validation "
            f"loss {chosen.state.best_loss:.4g} at epoch {chosen.state.best_epoch})"
        )
    return chosen.state


def _loss(trial: Trial) -> float:
    """A trial's best validation loss, NaN counted as +inf (never chosen over a number)."""
    return trial.state.best_loss if math.isfinite(trial.state.best_loss) else math.inf


def _trial(config, trial_config, out: Path, data, spec, start: int, log, progress) -> Trial:
    """Initialisation ``start`` trained for the trial epochs (or loaded, if it was)."""
    from ._run import build_model, load_state

    seed = start_seed(config.train.seed, start)
    path = out / f"start-{start}.eqx"
    model = build_model(spec, seed)
    state = None
    if path.is_file():
        state, meta = load_state(path, initial_state(model, data, trial_config), spec)
        if meta.get("stopped") and not meta["stopped"].startswith("interrupted"):
            return Trial(start, seed, state, meta["stopped"])
    if log is not None:
        log(f"{out}: trying start {start} of {config.train.starts} (seed {seed})")
    meta = {"config": config.to_json(), "start": start, "seed": seed}

    def save(s: TrainingState, stopped=None) -> None:
        with HeldInterrupts(log, "saving a trial start; stopping when it is written") as held:
            save_checkpoint(path, s.arrays(), spec, {**meta, **s.numbers(), "stopped": stopped})
        if held.pending:
            raise KeyboardInterrupt

    marked = None if progress is None else (lambda record: progress({**record, "start": start}))
    result = fit(model, data, trial_config, marked, state=state, checkpoint=save)
    save(result.state, result.stopped)
    if result.stopped.startswith("interrupted"):
        raise KeyboardInterrupt
    return Trial(start, seed, result.state, result.stopped)


def starts_record(out: Path) -> dict:
    """``{"starts": ...}`` from ``out/starts.json`` for a run's metrics, or {}."""
    path = Path(out) / "starts.json"
    return {"starts": json.loads(path.read_text())} if path.is_file() else {}
