"""Linear solves of the implicit backward pass, with statistics like the forward solves.

Both return ``(x, SolveStats)`` where ``steps`` counts matrix-vector products, ``residual``
is the *true* relative residual ‖b − A x‖₂ / ‖b‖₂ (recomputed at the end, not the
solver's recursively updated estimate, which drifts in float32) and ``converged`` says
whether it is at most ``tol``.

Why not a library solver: `jax.scipy.sparse.linalg.cg` / ``gmres`` return no iteration
count and no convergence flag; Lineax's CG rejects the energy's Hessian in float32 (its
breakdown test pᵀAp > 100·rcond·rᵀr fails for eigenvalues near β = 0.04 on graphs of a
few thousand nodes) and scales its tolerance element-wise by |b|, which is zero on padding
nodes. GMRES cycles are delegated to `jax.scipy.sparse.linalg.gmres`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.sparse.linalg import gmres

from ._solvers import SolveStats, _norm


def _relative_residual(matvec, b, x):
    scale = jnp.maximum(_norm(b), jnp.finfo(b.dtype).tiny)
    return _norm(b - matvec(x)) / scale


def _stats(matvec, b, x, steps, tol) -> SolveStats:
    residual = jnp.where(_norm(b) > 0, _relative_residual(matvec, b, x), 0.0)
    return SolveStats(steps, residual, residual <= tol)


def _cg_from(matvec, b, x, target_sq, budget):
    """Conjugate-gradient steps from ``x`` until ‖r‖² ≤ ``target_sq`` or ``budget`` steps:
    x += α p, r −= α A p, α = rᵀr / pᵀAp, p = r' + (r'ᵀr' / rᵀr) p. Returns (x, steps)."""
    r = b - matvec(x)

    def cond(carry):
        _, _, _, gamma, step = carry
        return (step < budget) & (gamma > target_sq)

    def body(carry):
        x, r, p, gamma, step = carry
        ap = matvec(p)
        curvature = jnp.vdot(p, ap)
        alpha = gamma / jnp.where(curvature > 0, curvature, jnp.inf)
        x, r = x + alpha * p, r - alpha * ap
        gamma_next = jnp.vdot(r, r)
        p = r + (gamma_next / jnp.maximum(gamma, jnp.finfo(b.dtype).tiny)) * p
        return x, r, p, gamma_next, step + 1

    x, _, _, _, steps = jax.lax.while_loop(cond, body, (x, r, r, jnp.vdot(r, r), jnp.array(0)))
    return x, steps


def conjugate_gradient(matvec, b, tol: float, max_steps: int, restarts: int = 3):
    """x ≈ A⁻¹b for symmetric positive definite A by conjugate gradients from x = 0.

    CG stops on its recursively updated residual, which drifts from the true one in
    float32; when the true residual ‖b − Ax‖ is still above tol ‖b‖, CG restarts from x
    with the true residual (at most ``restarts`` times, ``max_steps`` products in all).
    """
    target_sq = (tol * _norm(b)) ** 2

    def cond(carry):
        x, steps, k = carry
        true_sq = jnp.sum((b - matvec(x)) ** 2)
        return (k <= restarts) & (steps < max_steps) & (true_sq > target_sq)

    def body(carry):
        x, steps, k = carry
        x, taken = _cg_from(matvec, b, x, target_sq, max_steps - steps)
        return x, steps + taken, k + 1

    x, steps, _ = jax.lax.while_loop(cond, body, (jnp.zeros_like(b), jnp.array(0), jnp.array(0)))
    return x, _stats(matvec, b, x, steps, tol)


def restarted_gmres(matvec, b, tol: float, max_steps: int, restart: int = 20):
    """x ≈ A⁻¹b for a general A by GMRES(``restart``): cycles of ``restart`` Arnoldi
    steps, each minimising ‖b − A x‖ over x_0 + K_restart(A, r_0), until the true relative
    residual is at most ``tol`` or about ``max_steps`` products with A were made."""

    def cond(carry):
        _, residual, steps = carry
        return (steps < max_steps) & (residual > tol)

    def body(carry):
        x, _, steps = carry
        x, _ = gmres(matvec, b, x0=x, tol=tol, atol=0.0, restart=restart, maxiter=1)
        return x, _relative_residual(matvec, b, x), steps + restart

    x0 = jnp.zeros_like(b)
    start = (x0, jnp.where(_norm(b) > 0, jnp.asarray(1.0, b.dtype), 0.0), jnp.array(0))
    x, _, steps = jax.lax.while_loop(cond, body, start)
    return x, _stats(matvec, b, x, steps, tol)
