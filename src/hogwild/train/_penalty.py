"""A soft cap on a trained energy's stiffness where it matters: at the solutions it meets
(``EnergyGNN(condition_penalty=κ)``).

``max_condition`` bounds K₁/μ for every H and parameter value through a rigorous curvature
bound, which is 30–1,000× the curvature realised at H* and so restricts the energy far
more than needed (`results/conditioning.md`). The penalty instead looks at the batch's
actual minimiser H*: with v the unit top eigenvector of ∇²_H E(H*) (power iteration,
`POWER_STEPS` Hessian-vector products from a fixed start, no gradient), the training loss
gains

    P(θ) = (max(0, log(K̂₁(θ) / β) − log κ))²,    K̂₁(θ) = vᵀ ∇²_H E(H*; θ) v,

differentiated in θ with H* and v held fixed (Danskin: ∂λ_max/∂θ = vᵀ (∂∇²E/∂θ) v at a
simple top eigenvalue; H*'s own dependence on θ, a third-derivative term, is left out).
Since μ ≥ β always, K̂₁/β ≤ κ caps the realised condition number at H* near κ. It is a
penalty, not a bound: nothing holds away from the training batches' minimisers, and
inference on other graphs may meet stiffer energies (watch K₁/μ in the history).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr

POWER_STEPS = 20
"""Hessian-vector products of the power iteration per training step."""


def _hvp(model, graph, h, v, prepared=None):
    """∇²_H E(H) v (forward-over-reverse)."""
    grad = jax.grad(lambda x: model.energy(graph, x, prepared))
    return jax.jvp(grad, (h,), (v,))[1]


def top_direction(model, graph, h, steps: int = POWER_STEPS):
    """Unit top eigenvector of ∇²_H E(h) on real nodes, by ``steps`` power iterations
    from a fixed pseudo-random start (no gradient flows through it)."""
    model, h = jax.lax.stop_gradient((model, h))
    prepared = model.prepare(graph)
    mask = graph.node_mask[:, None].astype(h.dtype)

    def unit(v):
        v = v * mask
        return v / jnp.maximum(jnp.linalg.norm(v), jnp.finfo(h.dtype).tiny)

    start = unit(jr.normal(jr.PRNGKey(0), h.shape, h.dtype))
    return jax.lax.fori_loop(0, steps, lambda _, v: unit(_hvp(model, graph, h, v, prepared)), start)


def rayleigh(model, graph, h, v):
    """K̂₁(θ) = vᵀ ∇²_H E(h; θ) v for a unit ``v``, differentiable in the model."""
    return jnp.vdot(v, _hvp(model, graph, h, v))


def penalty(model, graph, h, v, max_condition: float):
    """P(θ) = max(0, log(K̂₁/β) − log κ)²."""
    excess = jnp.log(rayleigh(model, graph, h, v) / model.beta) - jnp.log(max_condition)
    return jnp.maximum(excess, 0.0) ** 2


def penalty_value_and_grad(model, graph, h, weight=None):
    """(P, ∂P/∂θ) of a model with ``condition_penalty`` κ at its solution ``h``; the
    gradient is model-shaped (`eqx.filter_grad`), times ``weight`` when given."""
    h = jax.lax.stop_gradient(h)
    v = top_direction(model, graph, h)

    def objective(m):
        value = penalty(m, graph, h, v, model.condition_penalty)
        return value if weight is None else weight * value

    return eqx.filter_value_and_grad(objective)(model)
