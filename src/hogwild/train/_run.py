"""A run directory: train a registered model on a registered task, save, re-evaluate.

``DIR/config.json``  resolved configuration (task, task options, model, training)
``DIR/checkpoint.eqx`` best-on-validation parameters (atomic, checksummed)
``DIR/metrics.json`` train / validation / test metrics, solver statistics, wall time
``DIR/history.jsonl`` one line per evaluated epoch; ``DIR/training.png`` its curves
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
from ..tasks import TASKS, make_task
from ._checkpoint import CheckpointError, load_checkpoint, save_checkpoint, write_atomic, write_json
from ._fit import TrainConfig, evaluate, fit
from ._plot import plot_history


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


def cast_model(model, dtype):
    """``model`` with every floating-point parameter in ``dtype``."""
    dtype = jnp.dtype(dtype)
    return jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, model
    )


def _check_precision(config: RunConfig) -> None:
    if config.train.x64 and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


def train_run(config: RunConfig, out: str | Path, progress=None) -> dict:
    """Train, save the best model and write metrics into directory ``out``; return metrics."""
    _check_precision(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config.to_json())
    data = make_task(config.task, config.task_config())
    spec = model_spec(config, data)
    result = fit(build_model(spec, config.train.seed), data, config.train, progress)
    save_checkpoint(out / "checkpoint.eqx", result.model, spec)
    history = "".join(json.dumps(r) + "\n" for r in result.history)
    write_atomic(out / "history.jsonl", history.encode())
    plot_history(result.history, out / "training.png", title=f"{config.model} on {config.task}")
    metrics = {
        **evaluate(result.model, data, config.train),
        "task": config.task,
        "model": config.model,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped": result.stopped,
        "train_solver": result.train_solver,
        "train_seconds": result.seconds,
        "num_parameters": count_parameters(result.model),
    }
    write_json(out / "metrics.json", metrics)
    return metrics


def load_run(run: str | Path):
    """(config, dataset, model) of a saved run directory."""
    run = Path(run)
    if not (run / "config.json").is_file():
        raise CheckpointError(f"{run} is not a run directory (no config.json).")
    config = RunConfig.from_json(json.loads((run / "config.json").read_text()))
    _check_precision(config)
    data = make_task(config.task, config.task_config())
    spec = model_spec(config, data)
    model = load_checkpoint(run / "checkpoint.eqx", build_model(spec, 0), spec)
    return config, data, model


def evaluate_run(run: str | Path) -> dict:
    """Re-evaluate a saved run on all its splits; writes ``evaluation.json`` beside it."""
    start = time.perf_counter()
    config, data, model = load_run(run)
    metrics = {**evaluate(model, data, config.train), "seconds": time.perf_counter() - start}
    write_json(Path(run) / "evaluation.json", metrics)
    return metrics


def parameter_counts(task: str = "chains", task_options: dict | None = None) -> dict[str, int]:
    """Number of parameters of every registered model (default options) on ``task``."""
    config = RunConfig(task, task_options=dict(task_options or {}))
    data = make_task(task, config.task_config())
    return {
        name: count_parameters(
            build_model(model_spec(dataclasses.replace(config, model=name), data), 0)
        )
        for name in MODELS
    }


def count_parameters(model) -> int:
    """Number of scalar parameters (inexact array entries) of a model."""
    return sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
