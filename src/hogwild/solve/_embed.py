"""Node states of any model family through one call."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from ..graph import Graph
from ..models._base import check_graph
from ._fixed_point import fixed_point
from ._implicit import Solution
from ._minimise import minimise
from ._solvers import SolveStats


def propagate(model, graph: Graph) -> Solution:
    """The L layers of an explicit GNN (stats: L steps, residual 0, converged)."""
    check_graph(model, graph)
    value = model.forward(graph)
    zero = jnp.zeros((), value.dtype)
    return Solution(value, SolveStats(jnp.array(model.num_layers), zero, jnp.array(True)))


@eqx.filter_jit
def embed(model, graph: Graph, h0=None, solver=None, adjoint=None) -> Solution:
    """Node states H of ``model`` on ``graph`` with the solver's statistics.

    optimisation-based: H* = argmin E (``minimise``); fixed-point: H* = F(H*)
    (``fixed_point``); explicit: the L layers (``h0``, ``solver`` and ``adjoint`` unused).
    Compiled (``filter_jit``): called outside a compiled step, an uncompiled solver loop
    would be traced and compiled again on every call (12 s for a 7-step solve).
    A graph whose feature sizes are not the model's is a `GraphError` (`check_graph`).
    """
    check_graph(model, graph)
    if model.family == "optimisation":
        return minimise(model, graph, h0, solver=solver, adjoint=adjoint)
    if model.family == "fixed-point":
        return fixed_point(model, graph, h0, solver=solver, adjoint=adjoint)
    if model.family == "explicit":
        return propagate(model, graph)
    raise ValueError(f"no solver for model family {model.family!r}.")
