"""The symmetric renormalised adjacency Ã of GCN, IGNN and GSD-GNN, stored locally.

Ã = D̃^{-1/2} (A + I) D̃^{-1/2} with d̃_i = 1 + Σ_j A_ij (Appendix A). Node i needs only its
own degree and its neighbours' degrees, so Ã is local data: one coefficient per edge and one
per self-loop. Its largest eigenvalue is exactly 1 (eigenvector D̃^{1/2} 1), so IGNN's bound
κ / λ_max(Ã) is κ.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..graph import Graph

LAMBDA_MAX = 1.0
"""λ_max(Ã) for every graph with nonnegative symmetric weights (Perron vector D̃^{1/2} 1)."""


class RenormalisedAdjacency(eqx.Module):
    """Ã as per-edge coefficients ``edge[e]`` = Ã_ij for e = (j -> i), ``self_loop[i]`` = Ã_ii."""

    edge: Float[Array, " edges"]
    self_loop: Float[Array, " nodes"]
    degree: Float[Array, " nodes"]

    @classmethod
    def of(cls, graph: Graph) -> RenormalisedAdjacency:
        """Ã of a padded batch (padding edges have weight 0, so they add nothing)."""
        degree = 1.0 + jax.ops.segment_sum(
            graph.edge_weight, graph.receivers, num_segments=graph.num_nodes
        )
        scale = jax.lax.rsqrt(degree)
        edge = graph.edge_weight * scale[graph.receivers] * scale[graph.senders]
        return cls(edge, 1.0 / degree, degree)

    def aggregate(self, graph: Graph, h, h_view) -> Float[Array, "nodes features"]:
        """(Ã H)_i = Ã_ii h_i + Σ_{j∈N(i)} Ã_ij h_j, reading h_j from receiver i's view."""
        neighbours = jax.ops.segment_sum(
            self.edge[:, None] * h_view, graph.receivers, num_segments=graph.num_nodes
        )
        return self.self_loop[:, None] * h + neighbours

    def dense(self, graph: Graph) -> Float[Array, "nodes nodes"]:
        """Ã as a dense matrix (for tests and small graphs)."""
        n = graph.num_nodes
        matrix = (
            jnp.zeros((n, n), self.edge.dtype).at[graph.receivers, graph.senders].add(self.edge)
        )
        return matrix + jnp.diag(self.self_loop)
