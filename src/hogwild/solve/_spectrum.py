"""The extreme eigenvalues of an energy's Hessian, matrix-free: K₁ = λ_max(∇²E) and
μ = λ_min(∇²E), whose ratio K₁/μ is the condition number that sets how many steps a
solve takes (gradient descent ~ K₁/μ, L-BFGS and CG ~ sqrt(K₁/μ)).

Lanczos with full reorthogonalisation on Hessian-vector products (`jax.linearize` of
`jax.grad`): after m products the tridiagonal T_m = Vᵀ ∇²E V has Ritz values inside
[μ, K₁] whose extremes converge to μ and K₁ much faster than power iteration. These are
unscaled estimates (from below for K₁, from above for μ); `estimate_smoothness` in
``_solvers`` is a step-size safeguard, 1.1 × the power-iteration value.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float

from ..graph import Graph
from ._implicit import objective


def _masked(mask, h: Array) -> Array:
    """``mask`` ((nodes,) or h's shape) broadcast to h, as h's dtype (None: all ones)."""
    if mask is None:
        return jnp.ones_like(h)
    mask = jnp.reshape(mask, mask.shape + (1,) * (h.ndim - mask.ndim))
    return jnp.broadcast_to(mask, h.shape).astype(h.dtype)


def _lanczos_step(op, basis, carry):
    """One Lanczos step: (α_j, β_j, v_{j+1}) with v_{j+1} reorthogonalised twice against
    ``basis`` (rows v_0..v_j; later rows are zero). β_j = 0 marks an invariant subspace."""
    v, v_prev, beta_prev, scale, active = carry
    w = op(v)
    alpha = jnp.vdot(v, w)
    w = w - alpha * v - beta_prev * v_prev
    for _ in range(2):
        w = w - basis.T @ (basis @ w)
    beta = jnp.sqrt(jnp.vdot(w, w))
    scale = jnp.maximum(scale, jnp.abs(alpha) + beta)
    active = active & (beta > 10 * jnp.finfo(w.dtype).eps * scale)
    beta = jnp.where(active, beta, 0.0)
    nxt = jnp.where(active, w / jnp.where(active, beta, 1.0), 0.0)
    return alpha, beta, nxt, scale


def lanczos_tridiagonal(op, v0: Array, iterations: int) -> tuple[Array, Array, Array]:
    """(α (m,), β (m,), valid (m,)) of the Lanczos tridiagonal of the symmetric ``op``
    from ``v0``: T = tridiag(β, α, β), VᵀAV = T on the valid rows. After an invariant
    subspace (β_j = 0) the remaining rows are invalid."""
    n = v0.size
    flat = lambda x: op(x.reshape(v0.shape)).reshape(-1)  # noqa: E731
    v = v0.reshape(-1) / jnp.sqrt(jnp.vdot(v0, v0))

    def body(carry, j):
        basis, v, v_prev, beta_prev, scale, active = carry
        basis = basis.at[j].set(v)
        alpha, beta, nxt, scale = _lanczos_step(flat, basis, (v, v_prev, beta_prev, scale, active))
        return (basis, nxt, v, beta, scale, active & (beta > 0)), (alpha, beta, active)

    zero = jnp.zeros((), v.dtype)
    start = (jnp.zeros((iterations, n), v.dtype), v, jnp.zeros_like(v), zero, zero, True)
    _, (alpha, beta, valid) = jax.lax.scan(body, start, jnp.arange(iterations))
    return alpha, beta, valid


def hessian_extremes(
    fn, h: Array, *, mask: Array | None = None, iterations: int = 64
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """(K₁, μ): the largest and smallest eigenvalues of ∇²fn(h), by Lanczos.

    K₁ ≈ max λ(T_m), μ ≈ min λ(T_m),  T_m = V_mᵀ ∇²fn(h) V_m,  V_m a Krylov basis from a
    fixed random start. With ``mask`` (e.g. ``graph.node_mask``) the Hessian is compressed
    to the masked coordinates, P ∇²fn P, so padding nodes (whose block is βI) do not enter.

    Args:
        fn: scalar function of h, e.g. H -> E(G, H).
        h: the point (any shape; float32 or float64, computed in its dtype).
        mask: which leading-axis entries (or elements) of h count; None: all.
        iterations: Lanczos steps m (Hessian-vector products), capped at h.size. K₁
            converges first (exact to 1e-10 after ~20 steps on an 80-coordinate chain
            energy); μ is slower, because the small eigenvalues cluster near β (13 % high
            after 40 steps there, exact after 60): raise ``iterations`` when μ matters.

    Returns:
        Scalars (K₁, μ) in h's dtype. Jittable with ``fn`` closed over.
    """
    iterations = max(1, min(iterations, h.size))
    p = _masked(mask, h)
    _, hvp = jax.linearize(jax.grad(fn), h)
    v0 = p * jr.normal(jr.PRNGKey(0), h.shape, h.dtype)
    alpha, beta, valid = lanczos_tridiagonal(lambda v: p * hvp(p * v), v0, iterations)
    diag = jnp.where(valid, alpha, alpha[0])  # an invalid row: a harmless Rayleigh quotient
    off = jnp.where(valid[1:], beta[:-1], 0.0)
    ritz = jnp.linalg.eigvalsh(jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1))
    return ritz[-1], ritz[0]


@eqx.filter_jit
def condition_number(model, graph: Graph, h, *, iterations: int = 64):
    """(K₁, μ) of ∇²_H E(G, H) at states ``h`` for an energy model, over the real nodes of
    the batch (`hessian_extremes` with ``mask=graph.node_mask``); K₁/μ is the condition
    number. For a batch these are the extremes over all its graphs (∇²E is block-diagonal)."""
    return hessian_extremes(objective(model, graph), h, mask=graph.node_mask, iterations=iterations)
