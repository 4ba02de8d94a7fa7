"""Implicit differentiation of node states defined by a root g_θ(H*) = 0 (Appendix C).

Both implicit families are roots: an energy minimiser satisfies g = ∇_H E = 0, a fixed
point satisfies g = H − F(H) = 0. By the implicit function theorem

    dL/dθ = −(∂g/∂θ)ᵀ λ,   (∂g/∂H)ᵀ λ = ∂L/∂H*   (Eq. 36–37),

so the backward pass is one linear solve at H* and one vector-Jacobian product, with no
unrolling of the forward loop. ∂g/∂H is the Hessian of E (symmetric positive definite:
conjugate gradients) or I − ∂F/∂H (nonsymmetric: GMRES).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.sparse.linalg import cg, gmres

from ..graph import Graph
from ._solvers import SolveStats


class ImplicitAdjoint(eqx.Module):
    """Implicit differentiation; the adjoint system is solved by CG (energies) or GMRES
    (fixed points) to relative tolerance ``cg_tol`` in at most ``cg_max_steps`` steps."""

    cg_tol: float | None = None
    cg_max_steps: int = 1000

    def tolerance(self, dtype) -> float:
        if self.cg_tol is not None:
            return self.cg_tol
        return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-6


class UnrolledAdjoint(eqx.Module):
    """Backpropagation through every solver step (memory grows with the step count)."""


class Solution(eqx.Module):
    """Node states ``value`` (nodes, hidden) with the solver's `SolveStats`."""

    value: jax.Array
    stats: SolveStats


def _is_energy(model) -> bool:
    return model.family == "optimisation"


def objective(model, graph: Graph, prepared=None):
    """What the forward solver works on: H -> E(G, H) for energies, H -> F(G, H) otherwise.

    The H-independent part (``model.prepare``) is computed once here, not per evaluation.
    """
    prepared = model.prepare(graph) if prepared is None else prepared
    if _is_energy(model):
        return lambda h: model.energy(graph, h, prepared)
    return lambda h: model.fixed_point_map(graph, h, prepared)


def root(model, graph: Graph, h, prepared=None):
    """g_θ(H): ∇_H E(G, H) for an energy, H − F(G, H) for a fixed point."""
    fn = objective(model, graph, prepared)
    return jax.grad(fn)(h) if _is_energy(model) else h - fn(h)


def run(model, graph: Graph, h0, solver) -> Solution:
    """The forward solve, not differentiated."""
    h, stats = solver.run(objective(model, graph), h0)
    return Solution(h, stats)


def adjoint_solve(model, graph: Graph, h_star, cotangent, adjoint: ImplicitAdjoint):
    """λ solving (∂g/∂H at H*)ᵀ λ = cotangent: CG on Hessian-vector products for energies,
    GMRES on λ − (∂F/∂H)ᵀ λ for fixed points."""
    prepared = model.prepare(graph)
    tol, maxiter = adjoint.tolerance(h_star.dtype), adjoint.cg_max_steps
    if _is_energy(model):
        _, hvp = jax.linearize(lambda h: root(model, graph, h, prepared), h_star)
        lam, _ = cg(hvp, cotangent, tol=tol, atol=0.0, maxiter=maxiter)
        return lam
    _, vjp = jax.vjp(lambda h: root(model, graph, h, prepared), h_star)
    lam, _ = gmres(lambda v: vjp(v)[0], cotangent, tol=tol, atol=0.0, restart=20, maxiter=maxiter)
    return lam


@eqx.filter_custom_vjp
def implicit_solve(model, graph, h0, solver, adjoint):
    """H* from ``solver`` (forward), differentiated implicitly (backward)."""
    return run(model, graph, h0, solver)


@implicit_solve.def_fwd
def _implicit_fwd(perturbed, model, graph, h0, solver, adjoint):
    del perturbed
    sol = run(model, graph, h0, solver)
    return sol, sol.value


@implicit_solve.def_bwd
def _implicit_bwd(h_star, grad_obj, perturbed, model, graph, h0, solver, adjoint):
    del perturbed, h0, solver
    cotangent = grad_obj.value
    if cotangent is None:
        cotangent = jnp.zeros_like(h_star)
    lam = adjoint_solve(model, graph, h_star, cotangent, adjoint)
    _, vjp = eqx.filter_vjp(lambda m: root(m, graph, h_star), model)
    (grads,) = vjp(-lam)
    return grads
