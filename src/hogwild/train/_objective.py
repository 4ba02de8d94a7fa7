"""Losses and metrics (Section 6.3, Appendix F.2).

BCE for binary targets, cross-entropy for multi-class, MSE for regression, and for
``multilabel`` (J independent binary labels per row, e.g. PPI's 121) the mean over the J
labels of the sigmoid BCE. Metrics: classification error, relative RMSE = RMSE / RMS(targets)
for regression, and for multilabel micro-F1 over every (real row, label) with label j of
row i predicted positive iff logit z_ij > 0:

    micro-F1 = 2 TP / (2 TP + FP + FN),

TP, FP, FN summed over all rows and labels of every batch (so evaluating in several
batches is exact); its primary metric is ``f1_error`` = 1 − micro-F1 (lower is better, as
every other primary metric). With no positive label and no positive prediction at all,
micro-F1 = 1 (nothing to find, nothing wrongly claimed).

Predictions arrive in the task's units. With a ``scale`` (the model's
`hogwild.models.TargetScale`, see ``_scaling``) regression and distance losses are taken
on standardised values (y − μ)/σ; metrics are always in the task's units.

``distance`` (the coordinates task: relative localisation, no global frame): the rows of
``pred`` are points p_i and the targets true positions x_i; over all ordered pairs i ≠ j of
real nodes of the same graph, loss = mean (‖p_i − p_j‖ − ‖x_i − x_j‖)² and relative RMSE =
sqrt(mean squared distance error) / sqrt(mean ‖x_i − x_j‖²). Both are invariant to
rotating, reflecting and translating the predictions. The pairs are a dense N × N mask over
the padded batch built from ``graph.node_graph`` and ``graph.node_mask`` (jit-friendly, no
loop over graphs), so batches are limited to `MAX_PAIR_NODES` padded nodes.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

from ._batch import Batch

KINDS = ("binary", "multiclass", "multilabel", "regression", "distance")

MAX_PAIR_NODES = 4096
"""Largest padded batch (nodes) for the ``distance`` kind, whose N × N pair arrays would
otherwise grow without bound (4096² float32 = 64 MiB per array)."""


def _masked_mean(values, mask):
    return jnp.sum(jnp.where(mask, values, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


def check_pair_nodes(n: int) -> None:
    """Refuse a ``distance`` batch of ``n`` padded nodes above `MAX_PAIR_NODES`."""
    if n > MAX_PAIR_NODES:
        raise ValueError(
            f"the distance loss compares all node pairs of a batch (an N x N array); this "
            f"batch has N = {n} padded nodes > {MAX_PAIR_NODES}. Use smaller batches, e.g. "
            "--set batch_size=100 (graphs per batch)."
        )


def pair_mask(graph):
    """(N, N) bool: i ≠ j, both real nodes, in the same graph of the padded batch."""
    n = graph.node_mask.shape[0]
    check_pair_nodes(n)
    real = graph.node_mask[:, None] & graph.node_mask[None, :]
    same = graph.node_graph[:, None] == graph.node_graph[None, :]
    return real & same & ~jnp.eye(n, dtype=bool)


def pairwise_distances(points):
    """(N, N) Euclidean distances with finite gradients where points coincide (d = 0)."""
    sq = jnp.sum((points[:, None, :] - points[None, :, :]) ** 2, axis=-1)
    apart = sq > 0
    return jnp.where(apart, jnp.sqrt(jnp.where(apart, sq, 1.0)), 0.0)


def _pair_terms(pred, targets, graph):
    """(pair mask, squared distance errors, squared true distances), zero off the mask."""
    mask = pair_mask(graph)
    true = pairwise_distances(targets)
    error = jnp.where(mask, (pairwise_distances(pred) - true) ** 2, 0.0)
    return mask, error, jnp.where(mask, true**2, 0.0)


def row_losses(kind: str, pred, targets, graph=None):
    """Per-row loss: BCE on one logit, softmax cross-entropy, mean squared error, or
    (``multilabel``) the mean over labels j of BCE(σ(z_ij), y_ij).

    ``distance`` (needs the batch's ``graph``): node i's mean squared distance error over
    its partners j in the same graph (0 for a node without partners). `loss` for this kind
    averages over pairs, which differs from the mean of these rows when graph sizes differ.
    """
    if kind == "binary":
        return optax.sigmoid_binary_cross_entropy(pred[:, 0], targets[:, 0])
    if kind == "multiclass":
        labels = targets[:, 0].astype(jnp.int32)
        return optax.softmax_cross_entropy_with_integer_labels(pred, labels)
    if kind == "regression":
        return jnp.mean((pred - targets) ** 2, axis=-1)
    if kind == "multilabel":
        return jnp.mean(optax.sigmoid_binary_cross_entropy(pred, targets), axis=-1)
    if kind == "distance":
        if graph is None:
            raise ValueError("the distance kind needs the batch's `graph` to pair its nodes.")
        mask, error, _ = _pair_terms(pred, targets, graph)
        return jnp.sum(error, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1)
    raise ValueError(f"unknown task kind {kind!r}; valid: {', '.join(KINDS)}.")


def standardised(kind: str, pred, targets, scale=None):
    """(pred, targets) in the units the loss is taken in: (y − μ)/σ for regression and
    distance kinds when a ``scale`` is given, unchanged otherwise."""
    if scale is None or kind not in ("regression", "distance"):
        return pred, targets
    return scale.standardise(pred), scale.standardise(targets)


def loss(kind: str, pred, batch: Batch, scale=None):
    """Mean loss over the real rows of ``batch`` (``distance``: over its node pairs), in
    standardised units when a ``scale`` is given."""
    pred, targets = standardised(kind, pred, batch.targets, scale)
    if kind == "distance":
        mask, error, _ = _pair_terms(pred, targets, batch.graph)
        return jnp.sum(error) / jnp.maximum(jnp.sum(mask), 1)
    return _masked_mean(row_losses(kind, pred, targets), batch.mask)


def predicted_labels(kind: str, pred):
    if kind == "binary":
        return (pred[:, 0] > 0).astype(jnp.int32)
    return jnp.argmax(pred, axis=-1)


def f1_counts(pred, targets, mask) -> dict:
    """TP, FP, FN over the labels of the rows in ``mask``: label j of row i is predicted
    positive iff its logit ``pred[i, j]`` > 0, and is positive iff ``targets[i, j]`` > 0.5."""
    claimed = (pred > 0) & mask[:, None]
    actual = (targets > 0.5) & mask[:, None]
    return {
        "true_positives": jnp.sum(claimed & actual),
        "false_positives": jnp.sum(claimed & ~actual),
        "false_negatives": jnp.sum(~claimed & actual),
    }


def micro_f1(tp, fp, fn) -> float:
    """2 TP / (2 TP + FP + FN); 1 when there is nothing to find and nothing was claimed."""
    denominator = 2 * tp + fp + fn
    return 1.0 if denominator == 0 else float(2 * tp / denominator)


def batch_sums(kind: str, pred, batch: Batch, scale=None) -> dict:
    """Sufficient statistics of the metrics over the real rows (summable across batches);
    for ``distance`` over the node pairs (``count`` and ``values`` are numbers of pairs).
    ``loss`` is in standardised units when a ``scale`` is given, the errors never are."""
    z_pred, z_targets = standardised(kind, pred, batch.targets, scale)
    if kind == "distance":
        mask, error, true_sq = _pair_terms(pred, batch.targets, batch.graph)
        _, z_error, _ = _pair_terms(z_pred, z_targets, batch.graph)
        pairs, total = jnp.sum(mask), jnp.sum(error)
        return {
            "count": pairs,
            "loss": jnp.sum(z_error),
            "squared_error": total,
            "squared_target": jnp.sum(true_sq),
            "values": pairs,
        }
    m = batch.mask
    sums = {
        "count": jnp.sum(m),
        "loss": jnp.sum(jnp.where(m, row_losses(kind, z_pred, z_targets), 0.0)),
    }
    if kind == "multilabel":
        sums.update(f1_counts(pred, batch.targets, m))
    elif kind == "regression":
        sums["squared_error"] = jnp.sum(jnp.where(m[:, None], (pred - batch.targets) ** 2, 0.0))
        sums["squared_target"] = jnp.sum(jnp.where(m[:, None], batch.targets**2, 0.0))
        sums["values"] = jnp.sum(m) * pred.shape[1]
    else:
        wrong = predicted_labels(kind, pred) != batch.targets[:, 0].astype(jnp.int32)
        sums["errors"] = jnp.sum(jnp.where(m, wrong, False))
    return sums


def metrics_from_sums(kind: str, sums: dict) -> dict:
    """loss and error (classification), micro_f1 and f1_error (multilabel), or rmse and
    relative_rmse (regression, distance: of the pairwise distances), as floats."""
    total = {k: float(np.sum([float(s[k]) for s in sums])) for k in sums[0]}
    out = {"loss": total["loss"] / max(total["count"], 1)}
    if kind in ("regression", "distance"):
        rmse = np.sqrt(total["squared_error"] / max(total["values"], 1))
        rms = np.sqrt(total["squared_target"] / max(total["values"], 1))
        out.update(rmse=float(rmse), relative_rmse=float(rmse / max(rms, 1e-12)))
    elif kind == "multilabel":
        keys = ("true_positives", "false_positives", "false_negatives")
        out["micro_f1"] = micro_f1(*(total[k] for k in keys))
        out["f1_error"] = 1.0 - out["micro_f1"]
    else:
        out["error"] = total["errors"] / max(total["count"], 1)
        out["accuracy"] = 1.0 - out["error"]
    return out


def primary_metric(kind: str) -> str:
    """The metric reported in the tables for this kind of task (lower is better): the
    paper's error / relative RMSE, and 1 − micro-F1 for multilabel tasks (PPI)."""
    if kind == "multilabel":
        return "f1_error"
    return "relative_rmse" if kind in ("regression", "distance") else "error"


def validation_key(record: dict) -> str:
    """The key of the primary metric in a history record (``validation_error``,
    ``validation_f1_error`` or ``validation_relative_rmse``)."""
    keys = [f"validation_{primary_metric(kind)}" for kind in KINDS]
    return next((k for k in keys if k in record), "validation_loss")
