"""A run directory: train a registered model on a registered task, save, re-evaluate.

``DIR/config.json``  resolved configuration (task, task options, model, training)
``DIR/checkpoint.eqx`` best-on-validation parameters (atomic, checksummed)
``DIR/state.eqx``    everything needed to continue training (saved periodically)
``DIR/metrics.json`` train / validation / test metrics, solver statistics, wall time
``DIR/history.jsonl`` one line per evaluated epoch; ``DIR/training.png`` its curves

Every file is written atomically. `train_run` refuses a directory that already holds
something unless told to ``overwrite`` it or ``resume`` the run in it (`claim_run_dir`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

from ..models import MODELS, check_model_options, make_model
from ..models._registry import cast_model
from ..tasks import TASKS, make_task
from ._baseline import constant_entry
from ._checkpoint import (
    CheckpointError,
    leaves_into,
    read_header,
    save_checkpoint,
    write_atomic,
    write_json,
)
from ._config import TrainConfig
from ._fit import FitResult, check_solver, evaluate, fit, initial_state
from ._plot import plot_history
from ._rundir import (
    claim_run_dir,
    config_differences,
    evaluation_pending,
    held_run_dirs,
    with_saved_defaults,
)
from ._signals import HeldInterrupts
from ._starts import chosen_start, starts_record
from ._state import TrainingState


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What to train: ``task`` with ``task_options`` (its config fields), ``model`` with
    ``model_options`` (its registered hyperparameters, e.g. IGNN's kappa), ``train``."""

    task: str = "chains"
    model: str = "energy-edge"
    task_options: dict = dataclasses.field(default_factory=dict)
    train: TrainConfig = TrainConfig()
    model_options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; valid: {', '.join(sorted(TASKS))}.")
        check_model_options(self.model, self.model_options)

    def task_config(self):
        config_cls = TASKS[self.task][0]
        valid = {f.name for f in dataclasses.fields(config_cls)}
        unknown = sorted(set(self.task_options) - valid)
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for task {self.task!r}; "
                f"valid: {', '.join(sorted(valid))}."
            )
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in self.task_options.items()}
        return config_cls(**options)

    def to_json(self) -> dict:
        return {
            "task": self.task,
            "model": self.model,
            "task_options": self.task_options,
            "model_options": self.model_options,
            "train": dataclasses.asdict(self.train),
        }

    @classmethod
    def from_json(cls, obj: dict) -> RunConfig:
        """The configuration a saved ``config.json`` describes (options it predates: the
        values it was trained with, `SAVED_BEFORE`)."""
        obj = with_saved_defaults(obj)
        return cls(
            obj["task"],
            obj["model"],
            dict(obj["task_options"]),
            TrainConfig(**obj["train"]),
            dict(obj.get("model_options", {})),
        )


def model_spec(config: RunConfig, data) -> dict:
    """Everything that fixes a model's skeleton (stored in checkpoints). Model options
    appear only when set, so a checkpoint made with the defaults stays loadable."""
    options = {"options": dict(config.model_options)} if config.model_options else {}
    return {
        "model": config.model,
        **options,
        "in_size": data.in_size,
        "edge_size": data.edge_size,
        "out_size": data.out_size,
        "graph_level": data.level == "graph",
        "dtype": "float64" if config.train.x64 else "float32",
    }


def build_model(spec: dict, seed: int):
    """A model from its spec with parameters from ``seed``, in the spec's dtype."""
    model = make_model(
        spec["model"],
        spec["in_size"],
        spec["edge_size"],
        spec["out_size"],
        graph_level=spec["graph_level"],
        seed=seed,
        options=spec.get("options", {}),
    )
    return cast_model(model, spec["dtype"])


def _check_precision(config: RunConfig) -> None:
    if config.train.x64 and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


def _save_progress(out: Path, state: TrainingState, spec, config, stopped=None) -> None:
    """The training state, the best model and the history so far, in ``out``."""
    meta = {"config": config.to_json()}
    save_checkpoint(
        out / "state.eqx", state.arrays(), spec, {**meta, **state.numbers(), "stopped": stopped}
    )
    save_checkpoint(
        out / "checkpoint.eqx", state.best_model, spec, {**meta, "epoch": state.best_epoch}
    )
    history = "".join(json.dumps(r) + "\n" for r in state.history)
    write_atomic(out / "history.jsonl", history.encode())


def _saver(out: Path, spec, config, log):
    """The periodic checkpoint callback of `fit`: Ctrl-C while it writes is held, then
    raised once the files are complete."""

    def save(state: TrainingState) -> None:
        with HeldInterrupts(log, "saving a checkpoint; stopping when it is written") as held:
            _save_progress(out, state, spec, config)
        if held.pending:
            raise KeyboardInterrupt

    return save


def load_state(path: Path, skeleton: TrainingState, spec) -> tuple[TrainingState, dict]:
    """The `TrainingState` saved in ``path`` (shapes from ``skeleton``) and its header's
    meta."""
    header, payload = read_header(path)
    arrays = leaves_into(path, header, payload, skeleton.arrays(), spec)
    return skeleton.restored(arrays, header["meta"]), header["meta"]


def _resumed_state(out: Path, skeleton: TrainingState, spec, log) -> TrainingState | None:
    if not (out / "state.eqx").is_file():
        if log is not None:
            log(f"no training state saved in {out} yet; starting from epoch 0")
        return None
    state, _ = load_state(out / "state.eqx", skeleton, spec)
    if log is not None:
        log(f"resuming {out} after epoch {state.epoch} (best so far: epoch {state.best_epoch})")
    return state


def _final_metrics(result: FitResult, data, config: RunConfig, log, skip: bool) -> dict:
    """Metrics of the best model on every split, unless ``skip`` or a Ctrl-C during the
    evaluation (then the run's summary only, ``"evaluation": "skipped: interrupted"``)."""
    summary = {
        "task": config.task,
        "model": config.model,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped": result.stopped,
        "diverged": result.diverged,
        "train_solver": result.train_solver,
        "train_adjoint": result.train_adjoint,
        "train_seconds": result.seconds,
        "num_parameters": count_parameters(result.model),
    }
    try:
        if not skip:
            return {**evaluate(result.model, data, config.train), **summary, **constant_entry(data)}
    except KeyboardInterrupt:
        pass
    if log is not None:
        log("final evaluation skipped (interrupted); `hogwild evaluate --run DIR` runs it")
    return {**summary, "evaluation": "skipped: interrupted"}


def train_run(
    config: RunConfig,
    out: str | Path,
    progress=None,
    *,
    mode: str = "new",
    checkpoint_every: int | None = None,
    checkpoint_seconds: float = 120.0,
    log=None,
) -> dict:
    """Train, save the best model and write metrics into directory ``out``; return metrics.

    ``mode``: "new" (``out`` must be new or empty), "overwrite" (clear an earlier run's
    files first) or "resume" (continue the interrupted or killed run in ``out``, which
    must have the same configuration). The training state is saved every
    ``checkpoint_every`` epochs (None: every ``checkpoint_seconds``), so a killed run
    loses at most that. ``log`` receives one-line status messages. ``out`` is held
    (`held_run_dirs`) while training: a second process refuses it.
    """
    with held_run_dirs([out]):
        return _train_held(config, out, progress, mode, checkpoint_every, checkpoint_seconds, log)


def _train_held(config, out, progress, mode, checkpoint_every, checkpoint_seconds, log) -> dict:
    out = claim_run_dir(out, config.to_json(), mode)
    _check_precision(config)
    data = make_task(config.task, config.task_config())
    spec = model_spec(config, data)
    model = build_model(spec, config.train.seed)
    solver = check_solver(model, data, config.train)
    if log is not None and mode != "resume":
        solves = "" if solver is None else f" ({type(solver).__name__} solves)"
        log(f"training {config.model} on {config.task}{solves} -> {out}")
    if mode != "resume":
        write_json(out / "config.json", config.to_json())
    if log is not None:
        log(
            "compiling the training and solver programs (the first epoch waits for it; a "
            "repeated command loads them from the compilation cache)"
        )
    state = None
    if mode == "resume":
        state = _resumed_state(out, initial_state(model, data, config.train), spec, log)
        stopped = evaluation_pending(out)
        if stopped is not None:
            return finish_evaluation(out, state, stopped, data, spec, config, log)
    if state is None:
        state = chosen_start(config, out, data, spec, log, progress)
    result = fit(
        model,
        data,
        config.train,
        progress,
        state=state,
        checkpoint=_saver(out, spec, config, log),
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
    )
    return _finish(out, result, data, spec, config, log)


def _finish(out: Path, result: FitResult, data, spec, config: RunConfig, log) -> dict:
    """Save a finished (or stopped) run's state, best model, history and plot, evaluate the
    best model on every split and write ``metrics.json``; return the metrics."""
    if result.stopped.startswith("interrupted") and log is not None:
        log(f"interrupted: saving {out} (Ctrl-C again skips the final evaluation)")
    with HeldInterrupts(log, "still saving; the final evaluation will be skipped") as held:
        _save_progress(out, result.state, spec, config, stopped=result.stopped)
        plot_history(result.history, out / "training.png", title=f"{config.model} on {config.task}")
    metrics = {**_final_metrics(result, data, config, log, skip=held.pending), **starts_record(out)}
    write_json(out / "metrics.json", metrics)
    return metrics


def finish_evaluation(out: Path, state: TrainingState, stopped: str, data, spec, config, log):
    """Evaluate and write ``metrics.json`` for the run in ``out`` whose training finished
    in (saved) ``state`` because ``stopped`` but whose final evaluation was killed
    (`evaluation_pending`)."""
    if log is not None:
        log(f"{out}: training had finished ({stopped}); running its final evaluation")
    return _finish(out, FitResult.from_state(state, stopped), data, spec, config, log)


def load_run(run: str | Path):
    """(config, dataset, model) of a saved run directory; the checkpoint must have been
    written for the configuration in its config.json."""
    run = Path(run)
    if not (run / "config.json").is_file():
        raise CheckpointError(f"{run} is not a run directory (no config.json).")
    saved = json.loads((run / "config.json").read_text())
    config = RunConfig.from_json(saved)
    _check_precision(config)
    header, payload = read_header(run / "checkpoint.eqx")
    written_for = header.get("meta", {}).get("config", saved)
    if with_saved_defaults(written_for) != with_saved_defaults(saved):
        raise CheckpointError(
            f"{run / 'checkpoint.eqx'} was written by a run with other options than "
            f"{run / 'config.json'} ({'; '.join(config_differences(written_for, saved))})."
        )
    data = make_task(config.task, config.task_config())
    spec = model_spec(config, data)
    model = leaves_into(run / "checkpoint.eqx", header, payload, build_model(spec, 0), spec)
    return config, data, model


def evaluate_run(run: str | Path) -> dict:
    """Re-evaluate a saved run on all its splits; writes ``evaluation.json`` beside it."""
    start = time.perf_counter()
    config, data, model = load_run(run)
    metrics = {
        **evaluate(model, data, config.train),
        **constant_entry(data),
        "run_finished": (Path(run) / "metrics.json").is_file(),
        "seconds": time.perf_counter() - start,
    }
    write_json(Path(run) / "evaluation.json", metrics)
    return metrics


def parameter_counts(task: str = "chains", task_options: dict | None = None) -> dict[str, int]:
    """Number of parameters of every registered model (default options) on ``task``.

    The task's dataset is built for its sizes (cheap for the synthetic tasks; ``mnist``
    reads its data); the models are not: `eqx.filter_eval_shape` traces each constructor
    abstractly, so no parameter is computed.
    """
    config = RunConfig(task, task_options=dict(task_options or {}))
    data = make_task(task, config.task_config())
    return {
        name: count_parameters(
            eqx.filter_eval_shape(
                build_model, model_spec(dataclasses.replace(config, model=name), data), 0
            )
        )
        for name in MODELS
    }


def _is_inexact_leaf(x) -> bool:
    """A floating-point array, or the shape of one (`jax.ShapeDtypeStruct`)."""
    if isinstance(x, jax.ShapeDtypeStruct):
        return jnp.issubdtype(x.dtype, jnp.inexact)
    return eqx.is_inexact_array(x)


def count_parameters(model) -> int:
    """Number of scalar parameters (inexact array entries) of a model, or of its shapes
    (the output of `eqx.filter_eval_shape` on a constructor); the target scale μ, σ is
    data, not parameters, and is not counted."""
    trained = eqx.tree_at(lambda m: m.readout.scale, model, None)
    return sum(x.size for x in jax.tree_util.tree_leaves(trained) if _is_inexact_leaf(x))
