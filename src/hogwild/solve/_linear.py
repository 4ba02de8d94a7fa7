"""Linear solves of the implicit backward pass, with statistics like the forward solves.

Both return ``(x, SolveStats)`` where ``steps`` counts matrix-vector products, ``residual``
is the *true* relative residual ‖b − A x‖₂ / ‖b‖₂ (recomputed at the end, not the
solver's recursively updated estimate, which drifts in float32) and ``converged`` says
whether it is at most ``tol``.

Why not a library solver: `jax.scipy.sparse.linalg.cg` / ``gmres`` return no iteration
count and no convergence flag; Lineax's CG rejects the energy's Hessian in float32 (its
breakdown test pᵀAp > 100·rcond·rᵀr fails for eigenvalues near β = 0.04 on graphs of a
few thousand nodes) and scales its tolerance element-wise by |b|, which is zero on padding
nodes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._solvers import SolveStats, _norm


def _relative_residual(matvec, b, x):
    scale = jnp.maximum(_norm(b), jnp.finfo(b.dtype).tiny)
    return _norm(b - matvec(x)) / scale


def true_residual_stats(matvec, b, x, steps, tol) -> SolveStats:
    """`SolveStats` of ``x`` for Ax = b: ``steps`` as given, the true relative residual."""
    residual = jnp.where(_norm(b) > 0, _relative_residual(matvec, b, x), 0.0)
    return SolveStats(steps, residual, residual <= tol)


def _identity(r):
    return r


def _cg_from(matvec, b, x, target_sq, budget, precondition=_identity):
    """(Preconditioned) conjugate-gradient steps from ``x`` until ‖r‖² ≤ ``target_sq`` or
    ``budget`` steps: z = M⁻¹r (``precondition``; identity: plain CG), x += α p,
    r −= α A p, α = rᵀz / pᵀAp, p = z' + (r'ᵀz' / rᵀz) p. Returns (x, steps)."""
    r = b - matvec(x)
    z = precondition(r)

    def cond(carry):
        _, r, _, _, step = carry
        return (step < budget) & (jnp.vdot(r, r) > target_sq)

    def body(carry):
        x, r, p, gamma, step = carry
        ap = matvec(p)
        curvature = jnp.vdot(p, ap)
        alpha = gamma / jnp.where(curvature > 0, curvature, jnp.inf)
        x, r = x + alpha * p, r - alpha * ap
        z = precondition(r)
        gamma_next = jnp.vdot(r, z)
        p = z + (gamma_next / jnp.maximum(gamma, jnp.finfo(b.dtype).tiny)) * p
        return x, r, p, gamma_next, step + 1

    x, _, _, _, steps = jax.lax.while_loop(cond, body, (x, r, z, jnp.vdot(r, z), jnp.array(0)))
    return x, steps


def conjugate_gradient(
    matvec, b, tol: float, max_steps: int, restarts: int = 3, x0=None, precondition=None
):
    """x ≈ A⁻¹b for symmetric positive definite A by conjugate gradients from ``x0``
    (default 0; a start already within tolerance costs one product and no step),
    preconditioned by ``precondition`` (v ↦ M⁻¹v, M symmetric positive definite; None:
    plain CG).

    CG stops on its recursively updated residual, which drifts from the true one in
    float32; when the true residual ‖b − Ax‖ is still above tol ‖b‖, CG restarts from x
    with the true residual (at most ``restarts`` times, ``max_steps`` products in all).
    """
    target_sq = (tol * _norm(b)) ** 2
    precondition = _identity if precondition is None else precondition

    def cond(carry):
        x, steps, k = carry
        true_sq = jnp.sum((b - matvec(x)) ** 2)
        return (k <= restarts) & (steps < max_steps) & (true_sq > target_sq)

    def body(carry):
        x, steps, k = carry
        x, taken = _cg_from(matvec, b, x, target_sq, max_steps - steps, precondition)
        return x, steps + taken, k + 1

    start = jnp.zeros_like(b) if x0 is None else x0
    x, steps, _ = jax.lax.while_loop(cond, body, (start, jnp.array(0), jnp.array(0)))
    return x, true_residual_stats(matvec, b, x, steps, tol)


def _arnoldi_cycle(matvec, b, x, tol_abs, restart: int, budget):
    """One GMRES cycle from ``x``: up to ``restart`` Arnoldi steps (classical Gram-Schmidt
    applied twice, which keeps the basis orthogonal in float32), Givens rotations keeping
    the least-squares residual |g_{j+1}| = min ‖r − A V_j y‖ up to date, stopping early
    when it is at most ``tol_abs`` or ``budget`` products were made. Returns (x, products).
    """
    n, dtype = b.size, b.dtype
    r = (b - matvec(x.reshape(b.shape))).ravel()
    beta = _norm(r)
    basis = (
        jnp.zeros((restart + 1, n), dtype).at[0].set(r / jnp.maximum(beta, jnp.finfo(dtype).tiny))
    )
    hess = jnp.zeros((restart + 1, restart), dtype)
    rotations = jnp.zeros((restart, 2), dtype)
    g = jnp.zeros(restart + 1, dtype).at[0].set(beta)

    def cond(carry):
        _, _, _, g, j = carry
        return (j < jnp.minimum(restart, budget)) & (jnp.abs(g[j]) > tol_abs)

    def body(carry):
        basis, hess, rotations, g, j = carry
        w = matvec(basis[j].reshape(b.shape)).ravel()
        live = (jnp.arange(restart + 1) <= j).astype(dtype)
        h1 = live * (basis @ w)
        w = w - h1 @ basis
        h2 = live * (basis @ w)
        w, h = w - h2 @ basis, h1 + h2
        norm = _norm(w)
        basis = basis.at[j + 1].set(w / jnp.maximum(norm, jnp.finfo(dtype).tiny))
        column = h.at[j + 1].set(norm)

        def rotate(i, col):
            c, s = rotations[i, 0], rotations[i, 1]
            a, bb = col[i], col[i + 1]
            applied = col.at[i].set(c * a + s * bb).at[i + 1].set(-s * a + c * bb)
            return jnp.where(i < j, applied, col)

        column = jax.lax.fori_loop(0, restart, rotate, column)
        a, bb = column[j], column[j + 1]
        radius = jnp.maximum(jnp.hypot(a, bb), jnp.finfo(dtype).tiny)
        c, s = a / radius, bb / radius
        column = column.at[j].set(radius).at[j + 1].set(0.0)
        rotations = rotations.at[j].set(jnp.stack([c, s]))
        g = g.at[j + 1].set(-s * g[j]).at[j].set(c * g[j])
        return basis, hess.at[:, j].set(column), rotations, g, j + 1

    basis, hess, _, g, steps = jax.lax.while_loop(
        cond, body, (basis, hess, rotations, g, jnp.array(0))
    )
    # Solve the upper-triangular R y = g on the steps taken (identity on the rest).
    taken = jnp.arange(restart) < steps
    upper = jnp.where(taken[:, None] & taken[None, :], hess[:restart], 0.0)
    upper = upper + jnp.diag(jnp.where(taken, 0.0, 1.0))
    y = jax.scipy.linalg.solve_triangular(upper, jnp.where(taken, g[:restart], 0.0))
    return x + (y @ basis[:restart]).reshape(x.shape), steps


def restarted_gmres(matvec, b, tol: float, max_steps: int, restart: int = 20, x0=None):
    """x ≈ A⁻¹b for a general A by GMRES(``restart``) from ``x0`` (0 if None): cycles of at most
    ``restart`` Arnoldi steps, each minimising ‖b − A x‖ over x_0 + K(A, r_0), until the
    true relative residual is at most ``tol`` or ``max_steps`` products with A were made.
    ``steps`` counts the products of the Arnoldi steps actually taken.

    Written here rather than delegated to `jax.scipy.sparse.linalg.gmres`, whose cycles
    always run ``restart`` steps and cost 3-5 times the products themselves on a 4,000-node
    IGNN adjoint (``bench/train.py``).
    """
    tol_abs = tol * _norm(b)

    def cond(carry):
        _, residual, steps = carry
        return (steps < max_steps) & (residual > tol)

    def body(carry):
        x, _, steps = carry
        x, taken = _arnoldi_cycle(matvec, b, x, tol_abs, restart, max_steps - steps)
        return x, _relative_residual(matvec, b, x), steps + jnp.maximum(taken, 1)

    nonzero = _norm(b) > 0
    if x0 is None:
        x0, first = jnp.zeros_like(b), jnp.where(nonzero, jnp.asarray(1.0, b.dtype), 0.0)
    else:  # b = 0 has the answer 0 whatever the start
        x0 = jnp.where(nonzero, x0, 0.0)
        first = jnp.where(nonzero, _relative_residual(matvec, b, x0), 0.0)
    start = (x0, first, jnp.array(0))
    x, _, steps = jax.lax.while_loop(cond, body, start)
    return x, true_residual_stats(matvec, b, x, steps, tol)
