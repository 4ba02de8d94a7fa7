"""Jitted training and evaluation steps, generic over model families."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ..solve import embed
from ..solve._implicit import implicit_value_and_grad
from ..solve._solvers import SolveStats
from ._batch import Batch
from ._objective import batch_sums, loss
from ._scaling import frozen_labels


def no_adjoint(dtype) -> SolveStats:
    """Adjoint statistics of a model without an implicit backward pass (explicit GNNs)."""
    return SolveStats(jnp.array(0), jnp.zeros((), dtype), jnp.array(True))


def _value_and_grad(model, batch: Batch, h0, kind, solver, adjoint):
    """(loss, grads, forward solution, adjoint stats) for any model family."""

    def readout_loss(m, h):
        return loss(kind, m.readout(batch.graph, h), batch, m.readout.scale)

    if model.family == "explicit":

        def objective(m):
            sol = embed(m, batch.graph)
            return readout_loss(m, sol.value), sol

        (value, sol), grads = eqx.filter_value_and_grad(objective, has_aux=True)(model)
        return value, grads, sol, no_adjoint(sol.value.dtype)
    return implicit_value_and_grad(readout_loss, model, batch.graph, h0, solver, adjoint)


def all_finite(tree) -> jax.Array:
    """Whether every floating-point leaf of ``tree`` is finite (no NaN, no inf)."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_inexact_array))
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


class StepOutput(eqx.Module):
    """What one training step gives back: the updated ``model`` and ``opt_state``, the
    batch ``loss`` before the step, ``states`` H* (next epoch's warm start), the forward
    and adjoint `SolveStats` and whether every new parameter is ``finite``."""

    model: eqx.Module
    opt_state: object
    loss: jax.Array
    states: jax.Array
    forward: SolveStats
    adjoint: SolveStats
    finite: jax.Array


@eqx.filter_jit
def train_step(model, opt_state, batch: Batch, h0, optimiser, kind, solver, adjoint):
    """One optimiser step on one batch (a `StepOutput`).

    Gradients flow through the solve by implicit differentiation. After the step the model
    is ``constrain``-ed (IGNN: θ_m projected so that F stays a contraction).
    """
    value, grads, sol, adjoint_stats = _value_and_grad(model, batch, h0, kind, solver, adjoint)
    params = eqx.filter(model, eqx.is_inexact_array)
    updates, opt_state = optimiser.update(grads, opt_state, params)
    model = eqx.apply_updates(model, updates).constrain()
    return StepOutput(
        model, opt_state, value, sol.value, sol.stats, adjoint_stats, all_finite(model)
    )


@eqx.filter_jit
def eval_step(model, batch: Batch, h0, kind, solver):
    """Predictions' metric sums, H* and solver stats on one batch (no gradients)."""
    sol = embed(jax.lax.stop_gradient(model), batch.graph, h0, solver, None)
    pred = model.readout(batch.graph, sol.value)
    return batch_sums(kind, pred, batch, model.readout.scale), sol.value, sol.stats, pred


@functools.lru_cache(maxsize=32)
def make_optimiser(
    learning_rate: float,
    decay_rate: float,
    decay_every: int,
    weight_decay: float,
    steps_per_epoch: int,
):
    """Adam with decoupled weight decay; lr × decay_rate every ``decay_every`` epochs.

    The target scale (`hogwild.models.TargetScale`) is data, not a parameter: it is
    ``frozen`` (no update, no weight decay). Cached: the optimiser is a static argument
    of the jitted steps, so equal settings must give the same object or every `fit` would
    compile its steps again.
    """
    schedule = optax.exponential_decay(
        learning_rate, decay_every * steps_per_epoch, decay_rate, staircase=True
    )
    adam = optax.adamw(schedule, b1=0.9, b2=0.999, weight_decay=weight_decay)
    return optax.multi_transform({"train": adam, "frozen": optax.set_to_zero()}, frozen_labels)
