"""Jitted training and evaluation steps, generic over model families."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import optax

from ..solve import embed
from ._batch import Batch
from ._objective import batch_sums, loss


@eqx.filter_jit
def train_step(model, opt_state, batch: Batch, h0, optimiser, kind, solver, adjoint):
    """One optimiser step on one batch: returns (model, opt_state, loss, H*, stats).

    H* (warm start for the next epoch) and the stats come out as auxiliaries; gradients
    flow through the solve by implicit differentiation. After the step the model is
    ``constrain``-ed (IGNN: θ_m projected so that F stays a contraction).
    """

    def objective(m):
        sol = embed(m, batch.graph, h0, solver, adjoint)
        return loss(kind, m.readout(batch.graph, sol.value), batch), sol

    (value, sol), grads = eqx.filter_value_and_grad(objective, has_aux=True)(model)
    params = eqx.filter(model, eqx.is_inexact_array)
    updates, opt_state = optimiser.update(grads, opt_state, params)
    model = eqx.apply_updates(model, updates).constrain()
    return model, opt_state, value, sol.value, sol.stats


@eqx.filter_jit
def eval_step(model, batch: Batch, h0, kind, solver):
    """Predictions' metric sums, H* and solver stats on one batch (no gradients)."""
    sol = embed(jax.lax.stop_gradient(model), batch.graph, h0, solver, None)
    pred = model.readout(batch.graph, sol.value)
    return batch_sums(kind, pred, batch), sol.value, sol.stats, pred


@functools.lru_cache(maxsize=32)
def make_optimiser(
    learning_rate: float,
    decay_rate: float,
    decay_every: int,
    weight_decay: float,
    steps_per_epoch: int,
):
    """Adam with decoupled weight decay; lr × decay_rate every ``decay_every`` epochs.

    Cached: the optimiser is a static argument of the jitted steps, so equal settings must
    give the same object or every `fit` would compile its steps again.
    """
    schedule = optax.exponential_decay(
        learning_rate, decay_every * steps_per_epoch, decay_rate, staircase=True
    )
    return optax.adamw(schedule, b1=0.9, b2=0.999, weight_decay=weight_decay)
