"""Solve H* = argmin_H E_θ(G, H) and differentiate H* with respect to θ (Appendix C).

The gradient method is a value: `ImplicitAdjoint` (default) solves the adjoint system
(∂²E/∂H²) λ = ∂L/∂H with conjugate gradients on Hessian-vector products and returns
dL/dθ = −(∂/∂θ ∇_H E)ᵀ λ (Eq. 36–37), with no unrolling; `UnrolledAdjoint` backpropagates
through the solver's iterations (only for a fixed-length `GradientDescent`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.sparse.linalg import cg

from ..graph import Graph
from ._solvers import LBFGS, AbstractSolver, GradientDescent, SolveStats


class ImplicitAdjoint(eqx.Module):
    """Implicit differentiation: CG on Hessian-vector products to relative ``cg_tol``."""

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


def _energy_of_states(model, graph: Graph):
    """H -> E(G, H) with the H-independent part of the energy computed once."""
    prepared = model.prepare(graph)
    return lambda h: model.energy(graph, h, prepared)


def _run(model, graph: Graph, h0, solver: AbstractSolver) -> Solution:
    h, stats = solver.run(_energy_of_states(model, graph), h0)
    return Solution(h, stats)


@eqx.filter_custom_vjp
def _implicit(model, graph, h0, solver, adjoint):
    return _run(model, graph, h0, solver)


@_implicit.def_fwd
def _implicit_fwd(perturbed, model, graph, h0, solver, adjoint):
    del perturbed
    sol = _run(model, graph, h0, solver)
    return sol, sol.value


def adjoint_solve(model, graph: Graph, h_star, cotangent, adjoint: ImplicitAdjoint):
    """λ solving (∇²_H E(H*)) λ = cotangent by CG (the dual system, Eq. 37 up to sign)."""
    _, hvp = jax.linearize(jax.grad(_energy_of_states(model, graph)), h_star)
    lam, _ = cg(
        hvp, cotangent, tol=adjoint.tolerance(h_star.dtype), atol=0.0, maxiter=adjoint.cg_max_steps
    )
    return lam


@_implicit.def_bwd
def _implicit_bwd(h_star, grad_obj, perturbed, model, graph, h0, solver, adjoint):
    del perturbed, h0, solver
    cotangent = grad_obj.value
    if cotangent is None:
        cotangent = jnp.zeros_like(h_star)
    lam = adjoint_solve(model, graph, h_star, cotangent, adjoint)

    def grad_h(m):
        return jax.grad(lambda h: m.energy(graph, h))(h_star)

    _, vjp = eqx.filter_vjp(grad_h, model)
    (grads,) = vjp(-lam)
    return grads


def minimise(
    model, graph: Graph, h0=None, *, solver: AbstractSolver | None = None, adjoint=None
) -> Solution:
    """H* = argmin_H model.energy(graph, H), differentiable with respect to the model.

    Args:
        model: an optimisation-based GNN (has ``energy(graph, h)`` and ``hidden``).
        graph: a padded `Graph` batch.
        h0: warm start (nodes, hidden); zeros when None. H* does not depend on it.
        solver: `LBFGS()` by default.
        adjoint: `ImplicitAdjoint()` by default, or `UnrolledAdjoint()`.

    Returns:
        A `Solution` whose ``stats`` say whether ‖∇E(H*)‖ reached the tolerance.
    """
    solver = LBFGS() if solver is None else solver
    adjoint = ImplicitAdjoint() if adjoint is None else adjoint
    if h0 is None:
        h0 = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype)
    if isinstance(adjoint, UnrolledAdjoint):
        if not (isinstance(solver, GradientDescent) and solver.unrolled):
            raise ValueError("UnrolledAdjoint needs GradientDescent(unrolled=True).")
        return _run(model, graph, h0, solver)
    return _implicit(model, graph, h0, solver, adjoint)
