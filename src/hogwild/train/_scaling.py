"""Target standardisation and class priors: training-split statistics kept with the model.

A readout fighting raw targets of up to 50 starves the energy of gradient (issue 10): its
gradient swamps the rest and H* drifts to where tanh saturates. So regression models
predict standardised targets z = (y − μ)/σ, with μ, σ from the **training split only**,
stored in the model (`hogwild.models.TargetScale`, checkpointed with it), and report
y = μ + σ z. Losses are taken on z, metrics on y.

- ``regression``: μ, σ per output column over the training rows (nodes or graphs).
- ``distance`` (coordinates): no frame to centre, so μ = 0 and one σ for every axis, the
  RMS per-axis spread of each training graph's positions around their centroid; the
  loss is then on pairwise distances in units of σ.
- classification (``binary``, ``multiclass``, ``multilabel``): σ = 1 and μ the training
  split's prior logits, so the readout's z is a correction to the prior: logit = μ + z.
  ``binary`` / ``multilabel``: μ_j = log p_j − log(1 − p_j) (p_j the positive rate of label
  j, kept within [1/2n, 1 − 1/2n] for n training rows); ``multiclass``: μ_c = log p_c minus
  its mean over classes (softmax ignores the shift). Issue 13: on MUTAG (67 % / 33 %) the
  edge-wise energy GNN starting from zero logits spent its first ~10 epochs moving the
  mean prediction toward the prior; through the implicit layer that push drove H* to
  where the readout's tanh units saturate (|H*| ≈ 9, readout spread 1e-5), and the
  run predicted the majority class for 300 epochs. Started at the prior (the usual
  final-bias initialisation, here kept as data so weight decay pulls the correction, not
  the prior, to 0), the run that had stuck (fold 5, seed 0) left it by epoch 30
  (`results/table3.md`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..models import TargetScale
from ..tasks import Dataset

SCALED_KINDS = ("regression", "distance")
PRIOR_KINDS = ("binary", "multiclass", "multilabel")


def _train_targets(data: Dataset) -> list[np.ndarray]:
    if data.level == "node":
        return [np.asarray(g.node_targets, np.float64) for g in data.train]
    return [np.asarray(g.graph_target, np.float64)[None, :] for g in data.train]


def _safe(std: np.ndarray) -> np.ndarray:
    return np.where(std > 1e-12, std, 1.0)


def prior_logits(data: Dataset) -> np.ndarray:
    """The training split's prior as logits (binary / multilabel: per label; multiclass:
    centred log-frequencies of the classes)."""
    rows = np.concatenate(_train_targets(data))
    n = len(rows)
    if data.kind == "multiclass":
        counts = np.bincount(rows[:, 0].astype(int), minlength=data.out_size)
        log_p = np.log(np.maximum(counts, 0.5) / n)
        return log_p - log_p.mean()
    p = np.clip(rows.mean(0), 0.5 / n, 1 - 0.5 / n)
    return np.log(p) - np.log1p(-p)


def target_scale(data: Dataset) -> TargetScale:
    """μ, σ of ``data``'s training targets (classification: the prior logits, σ = 1)."""
    if data.kind in PRIOR_KINDS:
        mean, std = prior_logits(data), np.ones(data.out_size)
        return TargetScale(jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32))
    if data.kind not in SCALED_KINDS:
        return TargetScale.identity(data.out_size)
    parts = _train_targets(data)
    if data.kind == "regression":
        rows = np.concatenate(parts)
        mean, std = rows.mean(0), _safe(rows.std(0))
    else:
        spread = np.concatenate([(p - p.mean(0)).ravel() for p in parts])
        mean = np.zeros(data.out_size)
        std = _safe(np.full(data.out_size, np.sqrt(np.mean(spread**2))))
    return TargetScale(jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32))


def with_target_scale(model, scale: TargetScale):
    """``model`` whose readout reports y = μ + σ z with ``scale``'s μ, σ (in its dtype)."""
    dtype = model.readout.scale.mean.dtype
    cast = TargetScale(scale.mean.astype(dtype), scale.std.astype(dtype))
    return eqx.tree_at(lambda m: m.readout.scale, model, cast)


def frozen_labels(params):
    """Optimiser labels for `optax.multi_transform`: ``frozen`` for the target scale,
    ``train`` for every other parameter of a model (its inexact-array filter)."""
    labels = jax.tree_util.tree_map(lambda _: "train", params)
    return eqx.tree_at(
        lambda m: (m.readout.scale.mean, m.readout.scale.std), labels, ("frozen", "frozen")
    )
