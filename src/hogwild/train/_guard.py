"""Spike guard: undo a rise of the training loss and halve the learning rate.

Adam near the edge of stability sometimes drives an energy GNN's training loss up over a
few epochs (chains, `results/table1.md`: 0.51 → 0.94 in ten epochs) into a region it does
not leave: the states grow, the gradients vanish, and Adam's second moments, which
remember the spike, keep every step tiny. With ``TrainConfig.spike_guard`` = f the loop
keeps a snapshot of the training state (parameters, optimiser state, warm starts) at the
epoch whose training loss is the lowest so far, L_min. The loss of epoch t is measured at
the parameters θ_t the epoch starts from, so the snapshot is the state *before* that
epoch. When an epoch ends with

    L_t > f · L_min,

the parameters, optimiser state and warm starts go back to the snapshot and the learning
rate is halved for the rest of the run: η_k = η · 2^-k after k rollbacks, applied as a
last scale of Adam's update and kept in the optimiser state, so a continued run resumes
it. A diverged epoch (non-finite loss, parameters or solve residual) counts as L_t = ∞
and is undone the same way, its history line saying why; without a snapshot, or after
`MAX_ROLLBACKS`, divergence stops the run as it does without the guard, and spikes are
only watched. The snapshot is part of `TrainingState` (and its checkpoints), so a
continued run rolls back exactly as an uninterrupted one.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

MAX_ROLLBACKS = 8
"""Rollbacks per run before the guard stops acting (η down to η / 256)."""


def learning_rate_scale(rollbacks: int) -> float:
    """η_k / η = 2^-k after ``rollbacks`` = k rollbacks."""
    return 0.5**rollbacks


def check_spike_guard(factor: float | None) -> None:
    """ValueError unless ``factor`` is None (off) or a number > 1."""
    if factor is not None and not factor > 1:
        raise ValueError(f"`spike_guard` must be > 1 (a ratio of training losses); got {factor}.")


def snapshot_fields(state, train_loss: float, factor: float | None) -> dict:
    """The guard's part of the state after an epoch whose loss ``train_loss`` was measured
    at ``state`` (the state before the epoch): a new snapshot when it is the lowest so far."""
    if factor is None or not train_loss < state.guard_loss:
        return {}
    return dict(
        guard=(state.model, state.opt_state, state.train_states),
        guard_loss=float(train_loss),
        guard_epoch=state.epoch + 1,
    )


def rolls_back(state, train_loss: float, factor: float | None) -> bool:
    """Whether the guard undoes an epoch that started from ``state`` with loss
    ``train_loss``: it is on, has a snapshot and rollbacks left, and L_t > f · L_min."""
    if factor is None or state.rollbacks >= MAX_ROLLBACKS or state.guard is None:
        return False
    return train_loss > factor * state.guard_loss


def rollback_fields(state, train_loss: float, factor: float | None) -> dict:
    """The state fields that undo a spike (`rolls_back`): the snapshot's model, optimiser
    state (with the halved scale) and warm starts; {} when it does not roll back."""
    if not rolls_back(state, train_loss, factor):
        return {}
    model, opt_state, train_states = state.guard
    rollbacks = state.rollbacks + 1
    return dict(
        model=model,
        opt_state=with_scale(opt_state, learning_rate_scale(rollbacks)),
        train_states=train_states,
        rollbacks=rollbacks,
    )


def with_scale(opt_state, scale: float):
    """``opt_state`` of a `scaled` optimiser with its final update scale set to ``scale``."""
    old = optax.tree_utils.tree_get(opt_state, "step_size")
    return optax.tree_utils.tree_set(opt_state, step_size=jnp.asarray(scale, old.dtype))


def scaled(optimiser: optax.GradientTransformation) -> optax.GradientTransformation:
    """``optimiser`` followed by a scale of its update, 1 until a rollback halves it."""
    return optax.chain(optimiser, optax.inject_hyperparams(optax.scale)(step_size=1.0))
