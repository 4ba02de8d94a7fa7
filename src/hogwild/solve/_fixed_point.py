"""Fixed-point iterations H ← F(H) for contractive GNNs, plain (Picard) or accelerated
(Anderson), and `fixed_point`, the differentiable solve of H* = F_θ(G, H*).

A solver's ``run(fmap, h0) -> (h, SolveStats)`` stops when the fixed-point residual
‖F(H) − H‖₂ falls below the tolerance (`default_tolerance`) or after ``max_steps``
evaluations of F; the stats say which.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

from ..graph import Graph
from ..models._base import check_graph
from ._implicit import ImplicitAdjoint, Solution, implicit_solve
from ._solvers import AbstractSolver, SolveStats, _norm


class AbstractFixedPointIteration(AbstractSolver):
    """An iteration on states ``(H, ‖F(H) − H‖, extra)``: ``init`` then ``step`` until the
    residual is below the tolerance or ``max_steps`` evaluations of F were made. ``init``
    and ``step`` are public so that callers can trace residuals (``bench/ignn.py``)."""

    @abc.abstractmethod
    def init(self, fmap, h0) -> tuple: ...

    @abc.abstractmethod
    def step(self, fmap, state: tuple) -> tuple: ...

    def run(self, fmap, h0):
        tol = self.tolerance(h0)

        def cond(carry):
            (_, residual, _), evaluations = carry
            return (evaluations < self.max_steps) & (residual > tol)

        def body(carry):
            state, evaluations = carry
            return self.step(fmap, state), evaluations + 1

        (h, residual, _), steps = jax.lax.while_loop(
            cond, body, (self.init(fmap, h0), jnp.array(1))
        )
        return h, SolveStats(steps, residual, residual <= tol)


class Picard(AbstractFixedPointIteration):
    """H_{k+1} = F(H_k): converges linearly at the contraction rate κ."""

    def init(self, fmap, h0):
        f = fmap(h0)
        return h0, _norm(f - h0), f

    def step(self, fmap, state):
        _, _, f = state
        f_next = fmap(f)
        return f, _norm(f_next - f), f_next


class Anderson(AbstractFixedPointIteration):
    """Anderson acceleration (type II) with ``memory`` past iterates.

    With residuals r_i = F(H_i) − H_i of the last m iterates, choose weights α (Σα = 1)
    minimising ‖Σ α_i r_i‖² + λ‖α‖², then H_{k+1} = Σ α_i F(H_i) (mixing 1). ``regularisation``
    λ is relative to the largest ‖r_i‖²; it keeps the small m×m system well posed.
    """

    memory: int = 5
    regularisation: float = 1e-8

    def init(self, fmap, h0):
        r = fmap(h0) - h0
        buffer = jnp.zeros((self.memory, h0.size), h0.dtype)
        gram = jnp.zeros((self.memory, self.memory), h0.dtype)
        return h0, _norm(r), (buffer, buffer, gram, r, jnp.array(0))

    def step(self, fmap, state):
        h, _, (fs, rs, gram, r, count) = state
        slot, flat = count % self.memory, r.ravel()
        fs, rs = fs.at[slot].set(h.ravel() + flat), rs.at[slot].set(flat)
        row = rs @ flat  # the Gram matrix rs rsᵀ changes in one row and column per step
        gram = gram.at[slot].set(row).at[:, slot].set(row)
        count = count + 1
        h = self._mix(fs, gram, jnp.minimum(count, self.memory)).reshape(h.shape)
        r = fmap(h) - h
        return h, _norm(r), (fs, rs, gram, r, count)

    def _mix(self, fs, gram, valid_count):
        """Σ α_i F(H_i) with α = argmin ‖Σ α_i r_i‖² + λ‖α‖² subject to Σ α_i = 1, from the
        stored F(H_i) (``fs``) and the Gram matrix of the residuals r_i."""
        valid = jnp.arange(self.memory) < valid_count
        gram = jnp.where(valid[:, None] & valid[None, :], gram, 0.0)
        scale = jnp.maximum(jnp.max(jnp.diag(gram)), jnp.finfo(fs.dtype).tiny)
        gram = gram + jnp.diag(jnp.where(valid, self.regularisation * scale, 1.0))
        c = jnp.linalg.solve(gram, valid.astype(fs.dtype))
        return (c / jnp.sum(c)) @ fs


@eqx.filter_jit
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

    Raises:
        GraphError: the graph's node / edge feature sizes are not the model's.
    """
    check_graph(model, graph)
    solver = Anderson() if solver is None else solver
    adjoint = ImplicitAdjoint() if adjoint is None else adjoint
    if h0 is None:
        h0 = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype)
    return implicit_solve(model, graph, h0, solver, adjoint)
