"""GSD-GNN: graph signal denoising as a node energy (Eq. 7)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ..graph import Graph
from ..nn import MLP
from ._adjacency import RenormalisedAdjacency
from ._base import AbstractEnergyGNN, Readout


class GSDGNN(AbstractEnergyGNN):
    """H* = argmin_H γ‖H − g_θ(X)‖²_F + β tr(Hᵀ L̃ H), L̃ = I − Ã (Eq. 7, Appendix F.1).

    Written per node, with h_j read from node i's view:

    e_i = γ‖h_i − g_θ(x_i)‖² + β[(1 − Ã_ii)‖h_i‖² − Σ_{j∈N(i)} Ã_ij h_iᵀ h_j],

    whose sum is the objective above. On an undirected graph E is 2γ-strongly convex (L̃
    is PSD) and its minimiser solves (γI + βL̃) H* = γ g_θ(X). On a directed graph Ã is
    not symmetric and E's Hessian 2γI + β(L̃ + L̃ᵀ) can be indefinite (smallest
    eigenvalue −0.79 on a random directed graph in ``tests/test_newton.py``): E is then
    unbounded below and no solver has a minimiser to find. g_θ is an MLP (16, 16, 16, k);
    γ = 1, β = 5.
    """

    encoder: MLP
    readout: Readout
    hidden: int = eqx.field(static=True)
    gamma: float = eqx.field(static=True)
    beta: float = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    edge_size: None = eqx.field(static=True, default=None)  # edge features are ignored

    def __init__(
        self,
        in_size: int,
        out_size: int,
        *,
        hidden: int = 2,
        encoder_sizes=(16, 16, 16),
        gamma: float = 1.0,
        beta: float = 5.0,
        graph_level: bool = False,
        key: PRNGKeyArray,
    ):
        if not (gamma > 0 and beta >= 0):
            raise ValueError(f"GSD-GNN needs gamma > 0 and beta >= 0; got {gamma}, {beta}.")
        ekey, rkey = jr.split(key)
        self.encoder = MLP(in_size, (*encoder_sizes, hidden), key=ekey)
        self.readout = Readout(hidden, out_size, graph_level=graph_level, key=rkey)
        self.hidden, self.gamma, self.beta = hidden, float(gamma), float(beta)
        self.in_size = in_size

    def prepare(self, graph: Graph):
        """Ã and the denoising target g_θ(X)."""
        return RenormalisedAdjacency.of(graph), jax.vmap(self.encoder)(graph.nodes)

    def node_energies(self, graph: Graph, h, h_view, prepared=None) -> Float[Array, " nodes"]:
        adjacency, target = self.prepare(graph) if prepared is None else prepared
        fit = self.gamma * jnp.sum((h - target) ** 2, -1)
        coupling = jax.ops.segment_sum(
            adjacency.edge * jnp.sum(h[graph.receivers] * h_view, -1),
            graph.receivers,
            num_segments=graph.num_nodes,
        )
        smooth = (1.0 - adjacency.self_loop) * jnp.sum(h * h, -1) - coupling
        return fit + self.beta * smooth

    def closed_form(self, graph: Graph) -> Float[Array, "nodes hidden"]:
        """H* = γ (γI + βL̃)⁻¹ g_θ(X) by a dense solve (tests and small graphs only)."""
        adjacency, target = self.prepare(graph)
        laplacian = jnp.eye(graph.num_nodes) - adjacency.dense(graph)
        system = self.gamma * jnp.eye(graph.num_nodes) + self.beta * laplacian
        return jnp.linalg.solve(system, self.gamma * target)
