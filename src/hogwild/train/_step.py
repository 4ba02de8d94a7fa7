"""Jitted training and evaluation steps, generic over model families."""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ..solve import embed
from ..solve._implicit import implicit_value_and_grad
from ..solve._solvers import GradientDescent, SolveStats
from ._batch import Batch
from ._guard import scaled
from ._objective import batch_sums, loss
from ._penalty import penalty_value_and_grad
from ._scaling import frozen_labels


def no_adjoint(dtype) -> SolveStats:
    """Adjoint statistics of a model without an implicit backward pass (explicit GNNs)."""
    return SolveStats(jnp.array(0), jnp.zeros((), dtype), jnp.array(True))


def _value_and_grad(model, batch: Batch, h0, kind, solver, adjoint, weight=None):
    """(loss, grads, forward solution, adjoint stats) for any model family; the loss is
    multiplied by ``weight`` when one is given (0 for a stopped member of a group: its
    adjoint right-hand side is 0, so its backward solve takes no step). An energy with
    ``condition_penalty`` adds the gradient of its stiffness penalty at H* (`_penalty`);
    the loss returned is the task's alone."""

    def readout_loss(m, h):
        value = loss(kind, m.readout(batch.graph, h), batch, m.readout.scale)
        return value if weight is None else weight * value

    if model.family == "explicit":

        def objective(m):
            sol = embed(m, batch.graph)
            return readout_loss(m, sol.value), sol

        (value, sol), grads = eqx.filter_value_and_grad(objective, has_aux=True)(model)
        return value, grads, sol, no_adjoint(sol.value.dtype)
    value, grads, sol, adjoint_stats = implicit_value_and_grad(
        readout_loss, model, batch.graph, h0, solver, adjoint
    )
    if getattr(model, "condition_penalty", None) is not None:
        _, extra = penalty_value_and_grad(model, batch.graph, sol.value, weight)
        grads = jax.tree.map(jnp.add, grads, extra)
    return value, grads, sol, adjoint_stats


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


def _step(model, opt_state, batch: Batch, h0, optimiser, kind, solver, adjoint, weight=None):
    value, grads, sol, adjoint_stats = _value_and_grad(
        model, batch, h0, kind, solver, adjoint, weight
    )
    params = eqx.filter(model, eqx.is_inexact_array)
    updates, opt_state = optimiser.update(grads, opt_state, params)
    model = eqx.apply_updates(model, updates).constrain()
    return StepOutput(
        model, opt_state, value, sol.value, sol.stats, adjoint_stats, all_finite(model)
    )


@eqx.filter_jit
def train_step(model, opt_state, batch: Batch, h0, optimiser, kind, solver, adjoint):
    """One optimiser step on one batch (a `StepOutput`).

    Gradients flow through the solve by implicit differentiation. After the step the model
    is ``constrain``-ed (IGNN: θ_m projected so that F stays a contraction).
    """
    return _step(model, opt_state, batch, h0, optimiser, kind, solver, adjoint)


def healthy(out: StepOutput) -> jax.Array:
    """Whether a step's loss, new parameters and both solve residuals are all finite."""
    residuals = jnp.stack([out.forward.residual, out.adjoint.residual]).astype(out.loss.dtype)
    return jnp.isfinite(out.loss) & out.finite & jnp.all(jnp.isfinite(residuals))


def select(keep, new, old):
    """``new`` where the scalar ``keep`` holds, else ``old`` (array leaves; same structure)."""
    return jax.tree.map(lambda a, b: jnp.where(keep, a, b) if eqx.is_array(a) else a, new, old)


@eqx.filter_jit
def group_train_step(models, opt_states, batches, h0, active, optimiser, kind, solver, adjoint):
    """`train_step` for a group of runs stacked on a leading axis, in one program
    (``eqx.filter_vmap``): member i steps ``models[i]`` on ``batches[i]`` (or the one shared
    batch when ``batches`` has no member axis, i.e. its graph's nodes are 2-D) from
    ``h0[i]``. A member that is not ``active`` (stopped early) or whose step is not
    `healthy` (diverged) keeps its model, optimiser state and warm start; a stopped member
    costs no adjoint steps (its loss is weighted by 0) and no forward steps (its warm start
    is its solution). The returned `StepOutput` is stacked; its ``finite``, ``loss`` and
    stats are those of the attempted step, so the caller can tell why a member diverged.
    """
    shared = batches.graph.nodes.ndim == 2

    def one(model, opt_state, batch, h, is_active):
        weight = is_active.astype(h.dtype)
        out = _step(model, opt_state, batch, h, optimiser, kind, solver, adjoint, weight)
        keep = is_active & healthy(out)
        return StepOutput(
            select(keep, out.model, model),
            select(keep, out.opt_state, opt_state),
            out.loss,
            jnp.where(keep, out.states, h),
            out.forward,
            out.adjoint,
            out.finite,
        )

    axes = (0, 0, None if shared else 0, 0, 0)
    return eqx.filter_vmap(one, in_axes=axes)(models, opt_states, batches, h0, active)


def eval_step(model, batch: Batch, h0, kind, solver):
    """Predictions' metric sums, H* and solver stats on one batch (no gradients).

    The solver's step budget is passed traced (`traced_budget`): training's validation
    solves and the final cold-start evaluation (`TrainConfig.eval_solver`, the same solver
    with a larger budget) then run one compiled program instead of two."""
    return _eval_step(model, batch, h0, kind, traced_budget(solver))


@eqx.filter_jit
def _eval_step(model, batch: Batch, h0, kind, solver):
    return _eval(model, batch, h0, kind, solver)


def traced_budget(solver):
    """``solver`` with ``max_steps`` as an int32 array, so that `eqx.filter_jit` traces it
    instead of compiling once per budget; solvers whose budget fixes a loop's length
    (`GradientDescent`'s scan) or that have none are returned as they are."""
    budget = getattr(solver, "max_steps", None)
    if isinstance(solver, GradientDescent) or not isinstance(budget, int):
        return solver
    return dataclasses.replace(solver, max_steps=jnp.asarray(budget, jnp.int32))


def _eval(model, batch: Batch, h0, kind, solver):
    sol = embed(jax.lax.stop_gradient(model), batch.graph, h0, solver, None)
    pred = model.readout(batch.graph, sol.value)
    return batch_sums(kind, pred, batch, model.readout.scale), sol.value, sol.stats, pred


@eqx.filter_jit
def group_eval_step(models, batches, h0, kind, solver):
    """`eval_step` for stacked ``models`` (and stacked or shared ``batches``, as in
    `group_train_step`) in one program."""
    shared = batches.graph.nodes.ndim == 2

    def one(model, batch, h):
        sums, h, stats, _ = _eval(model, batch, h, kind, solver)
        return sums, h, stats

    axes = (0, None if shared else 0, 0)
    return eqx.filter_vmap(one, in_axes=axes)(models, batches, h0)


@functools.lru_cache(maxsize=32)
def make_optimiser(
    learning_rate: float,
    decay_rate: float,
    decay_every: int,
    weight_decay: float,
    steps_per_epoch: int,
    clip_norm: float | None = None,
    guarded: bool = False,
    coupled_decay: bool = False,
):
    """Adam with decoupled weight decay (``coupled_decay``: g + weight_decay · θ into Adam,
    PyTorch's ``Adam(weight_decay=...)``); lr × decay_rate every ``decay_every`` epochs;
    with ``clip_norm`` c, each gradient g is first scaled to g · min(1, c / ‖g‖₂);
    ``guarded``: the update is last multiplied by the spike guard's scale (`_guard.scaled`).

    The target scale (`hogwild.models.TargetScale`) is data, not a parameter: it is
    ``frozen`` (no update, no weight decay). Cached: the optimiser is a static argument
    of the jitted steps, so equal settings must give the same object or every `fit` would
    compile its steps again.
    """
    schedule = optax.exponential_decay(
        learning_rate, decay_every * steps_per_epoch, decay_rate, staircase=True
    )
    if coupled_decay:
        adam = optax.chain(
            optax.add_decayed_weights(weight_decay), optax.adam(schedule, b1=0.9, b2=0.999)
        )
    else:
        adam = optax.adamw(schedule, b1=0.9, b2=0.999, weight_decay=weight_decay)
    if clip_norm is not None:
        adam = optax.chain(optax.clip_by_global_norm(clip_norm), adam)
    optimiser = optax.multi_transform({"train": adam, "frozen": optax.set_to_zero()}, frozen_labels)
    return scaled(optimiser) if guarded else optimiser
