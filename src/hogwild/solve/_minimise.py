"""Solve H* = argmin_H E_θ(G, H) and differentiate H* with respect to θ (Appendix C).

The gradient method is a value: `ImplicitAdjoint` (default) solves the adjoint system
(∂²E/∂H²) λ = ∂L/∂H with conjugate gradients on Hessian-vector products and returns
dL/dθ = −(∂/∂θ ∇_H E)ᵀ λ (Eq. 36–37), with no unrolling; `UnrolledAdjoint` backpropagates
through the solver's iterations (only for a fixed-length `GradientDescent`).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from ..graph import Graph
from ..models._base import check_graph
from ._implicit import ImplicitAdjoint, Solution, UnrolledAdjoint, implicit_solve, run
from ._solvers import LBFGS, AbstractSolver, GradientDescent


@eqx.filter_jit
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

    Raises:
        GraphError: the graph's node / edge feature sizes are not the model's.
    """
    check_graph(model, graph)
    solver = LBFGS() if solver is None else solver
    adjoint = ImplicitAdjoint() if adjoint is None else adjoint
    if h0 is None:
        h0 = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype)
    if isinstance(adjoint, UnrolledAdjoint):
        if not (isinstance(solver, GradientDescent) and solver.unrolled):
            raise ValueError("UnrolledAdjoint needs GradientDescent(unrolled=True).")
        return run(model, graph, h0, solver)
    return implicit_solve(model, graph, h0, solver, adjoint)
