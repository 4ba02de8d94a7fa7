"""The outside observer of a deployment: the synchronous answer of the current graph, and
how far the shards' states are from it.

Agreement is judged on predictions: the largest |ŷ_i − ŷ_i^sync| over the active nodes
(node-level tasks) or over the graph's outputs (graph-level). The residual of the
assembled states (‖∇E‖, ‖F(H) − H‖, or nodes still running for explicit models) is the
simulator's `_residual`, for the trace.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..asynchrony import Schedule, certify
from ..asynchrony._simulate import _residual
from ..solve import embed
from ..solve._spectrum import condition_number
from ..train import cast_model
from ._rule import padded_graph


class Monitor:
    """Synchronous reference and distance to it for ``model`` on a `Topology`."""

    def __init__(self, model, topology, x64: bool):
        if x64:
            jax.config.update("jax_enable_x64", True)
        self.dtype = np.float64 if x64 else np.float32
        self.model = cast_model(model, self.dtype)
        self.topology = topology
        self.graph_level = self.model.readout.graph is not None
        self.refresh()

    def refresh(self) -> None:
        """Recompute the synchronous answer after the graph changed."""
        self.graph = padded_graph(self.topology.data, self.dtype)
        self.prepared = self.model.prepare(self.graph)
        active = np.zeros(self.graph.num_nodes, bool)
        active[: len(self.topology.active)] = self.topology.active
        self.active_graph = eqx.tree_at(lambda g: g.node_mask, self.graph, jnp.asarray(active))
        self.sync_states = np.asarray(embed(self.model, self.graph).value)
        self.sync = np.asarray(self.model.readout(self.graph, self.sync_states))

    def step_size(self, requested: float | str | None) -> float:
        """α for energies (0 for other families): a number, ``"sync"`` = 1/K₁ with K₁ the
        smoothness over H* and 0 (the synchronous solver's step), or ``"minimiser"``
        (default) = 1/K₁* with K₁* the largest curvature at the synchronous minimiser H*.

        K₁ at H = 0 is often 100-300 times K₁* (fresh energies on a 50-node random
        geometric graph: 1/K₁ took 3,000 to more than 20,000 synchronous steps, 1/K₁*
        80-160). 1/K₁* is certified only near H*; the run reports a divergence."""
        if self.model.family != "optimisation":
            return 0.0
        if requested is None or requested == "minimiser":
            k1, _ = condition_number(self.model, self.graph, jnp.asarray(self.sync_states))
            return float(1.0 / k1)
        if requested == "sync":
            return float(certify(self.model, self.graph, Schedule(1, 0), "sync").step_size)
        if isinstance(requested, str) or not requested > 0:
            raise ValueError(f"step_size must be > 0, 'sync' or 'minimiser'; got {requested!r}.")
        return float(requested)

    def rows(self) -> np.ndarray:
        """Which prediction rows are compared."""
        if self.graph_level:
            return np.array([0])
        return np.flatnonzero(self.topology.active)

    def _readout(self, full):
        """Predictions from padded states (explicit models: their last layer's part)."""
        states = self.model.output(full) if self.model.family == "explicit" else full
        return np.asarray(self.model.readout(self.graph, states))

    def predictions(self, h: np.ndarray) -> np.ndarray:
        """Readout of the assembled states ``h`` (real nodes), compared rows only."""
        full = np.zeros((self.graph.num_nodes, h.shape[1]), self.dtype)
        full[: h.shape[0]] = h
        return self._readout(full)[self.rows()]

    def measure(self, h: np.ndarray, layer: np.ndarray) -> tuple[float, float]:
        """(largest prediction deviation from the synchronous answer, residual) of the
        assembled states ``h`` (real nodes) and layers."""
        n = self.topology.original.num_nodes
        full = np.zeros((self.graph.num_nodes, h.shape[1]), self.dtype)
        full[:n] = h
        steps = np.zeros(self.graph.num_nodes, np.int32)
        steps[:n] = layer
        steps[n:] = getattr(self.model, "num_layers", 0)
        pred = self._readout(full)
        rows = self.rows()
        deviation = float(np.max(np.abs(pred[rows] - self.sync[rows]))) if rows.size else 0.0
        residual, _ = _residual(self.model, self.active_graph, self.prepared, full, steps)
        return deviation, float(residual)
