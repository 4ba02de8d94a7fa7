"""The constant predictor: the score of a model that ignores its input.

Regression: every row predicts the training split's mean target ȳ (per output), so on a
split with targets y its relative RMSE is sqrt(mean((y − ȳ)²)) / sqrt(mean(y²)), the
metric of `metrics_from_sums`. Classification (binary, multiclass): every row predicts
the training split's most frequent class; its error is the other classes' share. Distance
and multilabel tasks have no such reference here (a constant embedding puts every
distance at 0, a relative RMSE of 1; an all-negative labelling has F1 0).

A run whose metric is not below the constant predictor's has learned nothing that
generalises; `hogwild train` says so rather than leaving it to a table to reveal.
"""

from __future__ import annotations

import numpy as np

#: Task kinds with a constant-predictor reference.
KINDS = ("regression", "binary", "multiclass")


def _rows(graphs, level: str) -> np.ndarray:
    if level == "node":
        return np.concatenate([np.asarray(g.node_targets, float) for g in graphs])
    return np.stack([np.asarray(g.graph_target, float) for g in graphs])


def constant_predictor(data) -> dict[str, float] | None:
    """The constant predictor's primary metric (a fraction, like the model's) on every
    split of ``data``, from training statistics only; None for kinds without one."""
    if data.kind not in KINDS:
        return None
    train = _rows(data.train, data.level)
    if data.kind == "regression":
        mean = train.mean(axis=0)

        def score(y):
            rms = np.sqrt(np.mean(y**2))
            return float(np.sqrt(np.mean((y - mean) ** 2)) / max(rms, 1e-12))
    else:
        majority = np.bincount(train[:, 0].astype(int)).argmax()

        def score(y):
            return float(np.mean(y[:, 0].astype(int) != majority))

    return {split: score(_rows(graphs, data.level)) for split, graphs in data.splits().items()}


def constant_entry(data) -> dict:
    """``{"constant_predictor": ...}`` for a run's metrics, or {} for kinds without one."""
    constant = constant_predictor(data)
    return {} if constant is None else {"constant_predictor": constant}


def has_not_learned(metrics: dict) -> bool:
    """Whether a run's validation metric is no better than the constant predictor's."""
    constant = metrics.get("constant_predictor")
    if not constant or "validation" not in metrics:
        return False
    return metrics["validation"][metrics["primary_metric"]] >= constant["validation"]
