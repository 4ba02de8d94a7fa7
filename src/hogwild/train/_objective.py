"""Losses and metrics (Section 6.3, Appendix F.2).

BCE for binary targets, cross-entropy for multi-class, MSE for regression. Metrics:
classification error, and relative RMSE = RMSE / RMS(targets) for regression.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

from ._batch import Batch


def _masked_mean(values, mask):
    return jnp.sum(jnp.where(mask, values, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


def row_losses(kind: str, pred, targets):
    """Per-row loss: BCE on one logit, softmax cross-entropy, or mean squared error."""
    if kind == "binary":
        return optax.sigmoid_binary_cross_entropy(pred[:, 0], targets[:, 0])
    if kind == "multiclass":
        labels = targets[:, 0].astype(jnp.int32)
        return optax.softmax_cross_entropy_with_integer_labels(pred, labels)
    if kind == "regression":
        return jnp.mean((pred - targets) ** 2, axis=-1)
    raise ValueError(f"unknown task kind {kind!r}; valid: binary, multiclass, regression.")


def loss(kind: str, pred, batch: Batch):
    """Mean loss over the real rows of ``batch``."""
    return _masked_mean(row_losses(kind, pred, batch.targets), batch.mask)


def predicted_labels(kind: str, pred):
    if kind == "binary":
        return (pred[:, 0] > 0).astype(jnp.int32)
    return jnp.argmax(pred, axis=-1)


def batch_sums(kind: str, pred, batch: Batch) -> dict:
    """Sufficient statistics of the metrics over the real rows (summable across batches)."""
    m = batch.mask
    sums = {
        "count": jnp.sum(m),
        "loss": jnp.sum(jnp.where(m, row_losses(kind, pred, batch.targets), 0.0)),
    }
    if kind == "regression":
        sums["squared_error"] = jnp.sum(jnp.where(m[:, None], (pred - batch.targets) ** 2, 0.0))
        sums["squared_target"] = jnp.sum(jnp.where(m[:, None], batch.targets**2, 0.0))
        sums["values"] = jnp.sum(m) * pred.shape[1]
    else:
        wrong = predicted_labels(kind, pred) != batch.targets[:, 0].astype(jnp.int32)
        sums["errors"] = jnp.sum(jnp.where(m, wrong, False))
    return sums


def metrics_from_sums(kind: str, sums: dict) -> dict:
    """loss and error (classification) or rmse and relative_rmse (regression), as floats."""
    total = {k: float(np.sum([float(s[k]) for s in sums])) for k in sums[0]}
    out = {"loss": total["loss"] / max(total["count"], 1)}
    if kind == "regression":
        rmse = np.sqrt(total["squared_error"] / max(total["values"], 1))
        rms = np.sqrt(total["squared_target"] / max(total["values"], 1))
        out.update(rmse=float(rmse), relative_rmse=float(rmse / max(rms, 1e-12)))
    else:
        out["error"] = total["errors"] / max(total["count"], 1)
        out["accuracy"] = 1.0 - out["error"]
    return out


def primary_metric(kind: str) -> str:
    """The metric reported in the paper's tables for this kind of task."""
    return "relative_rmse" if kind == "regression" else "error"
