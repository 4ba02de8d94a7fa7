"""Fixed-point iterations H ← F(H) for contractive GNNs, plain (Picard) or accelerated
(Anderson), and `fixed_point`, the differentiable solve of H* = F_θ(G, H*).

A solver's ``run(fmap, h0) -> (h, SolveStats)`` stops when the fixed-point residual
‖F(H) − H‖₂ falls below the tolerance (`default_tolerance`) or after ``max_steps``
evaluations of F; the stats say which.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..graph import Graph
from ._implicit import ImplicitAdjoint, Solution, implicit_solve
from ._solvers import AbstractSolver, SolveStats, _norm


class Picard(AbstractSolver):
    """H_{k+1} = F(H_k): converges linearly at the contraction rate κ."""

    def run(self, fmap, h0):
        tol = self.tolerance(h0)

        def cond(carry):
            h, f, step = carry
            return (step < self.max_steps) & (_norm(f - h) > tol)

        def body(carry):
            _, f, step = carry
            return f, fmap(f), step + 1

        h, f, steps = jax.lax.while_loop(cond, body, (h0, fmap(h0), jnp.array(1)))
        residual = _norm(f - h)
        return h, SolveStats(steps, residual, residual <= tol)


class Anderson(AbstractSolver):
    """Anderson acceleration (type II) with ``memory`` past iterates.

    With residuals r_i = F(H_i) − H_i of the last m iterates, choose weights α (Σα = 1)
    minimising ‖Σ α_i r_i‖² + λ‖α‖², then H_{k+1} = Σ α_i F(H_i) (mixing 1). ``regularisation``
    λ is relative to the largest ‖r_i‖²; it keeps the small m×m system well posed.
    """

    memory: int = 5
    regularisation: float = 1e-8

    def run(self, fmap, h0):
        tol, m, shape = self.tolerance(h0), self.memory, h0.shape
        slots = jnp.arange(m)

        def mix(xs, rs, count):
            valid = slots < count
            gram = jnp.where(valid[:, None] & valid[None, :], rs @ rs.T, 0.0)
            scale = jnp.maximum(jnp.max(jnp.diag(gram)), jnp.finfo(h0.dtype).tiny)
            gram = gram + jnp.diag(jnp.where(valid, self.regularisation * scale, 1.0))
            c = jnp.linalg.solve(gram, valid.astype(h0.dtype))
            alpha = c / jnp.sum(c)
            return alpha @ (xs + rs)

        def cond(carry):
            *_, residual, step = carry
            return (step < self.max_steps) & (residual > tol)

        def body(carry):
            xs, rs, h, r, _, step = carry
            slot = (step - 1) % m
            xs, rs = xs.at[slot].set(h.ravel()), rs.at[slot].set(r.ravel())
            h = mix(xs, rs, jnp.minimum(step, m)).reshape(shape)
            r = fmap(h) - h
            return xs, rs, h, r, _norm(r), step + 1

        buffer = jnp.zeros((m, h0.size), h0.dtype)
        r0 = fmap(h0) - h0
        start = (buffer, buffer, h0, r0, _norm(r0), jnp.array(1))
        _, _, h, _, residual, steps = jax.lax.while_loop(cond, body, start)
        return h, SolveStats(steps, residual, residual <= tol)


def fixed_point(
    model, graph: Graph, h0=None, *, solver: AbstractSolver | None = None, adjoint=None
) -> Solution:
    """H* = F_θ(G, H*) of a fixed-point GNN, differentiable with respect to the model.

    Args:
        model: a fixed-point GNN (has ``fixed_point_map(graph, h)`` and ``hidden``).
        graph: a padded `Graph` batch.
        h0: warm start (nodes, hidden); zeros when None. H* does not depend on it.
        solver: `Anderson()` by default, or `Picard()`.
        adjoint: `ImplicitAdjoint()` (GMRES on (I − ∂F/∂H)ᵀ λ = ∂L/∂H*).
    """
    solver = Anderson() if solver is None else solver
    adjoint = ImplicitAdjoint() if adjoint is None else adjoint
    if h0 is None:
        h0 = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype)
    return implicit_solve(model, graph, h0, solver, adjoint)
