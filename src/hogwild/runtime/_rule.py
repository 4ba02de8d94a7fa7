"""The local rule as a shard runs it: one compiled update of its own nodes from its views.

The shard evaluates its family's rule — the same methods the synchronous solvers and the
simulator call — on the whole (padded) graph, with every edge's view of its sender taken
from what the shard has heard, and keeps the rows of the nodes it owns:

- optimisation (energy GNN, GSD-GNN): h_i ← h_i − α(∂e_i/∂h_i + Σ_j g_ji) (Eq. 11), and the
  packets ∂e_i/∂(view of h_j) that i sends back to each neighbour j (Eq. 13);
- fixed-point (IGNN): h_i ← F_i(h_i, views) (Eq. 9);
- explicit (GCN, GAT): node i applies its next layer ℓ_i to its views (L layers, then stops).

Rows of nodes the shard does not own are computed and thrown away: the cost of a tick is
that of one synchronous step on the whole graph (fine for swarms and graphs of thousands
of nodes; a per-shard subgraph with the model's per-edge constants sliced is the way to
scale further).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..asynchrony._schedule import reverse_edges
from ..graph import Graph, GraphData, batch_graphs


def padded_graph(data: GraphData, dtype) -> Graph:
    """``data`` as a padded `Graph` (node and edge order kept, shapes in buckets so that
    small changes of the edge list do not recompile)."""
    return batch_graphs([data], dtype=dtype)


def padded_reverse(data: GraphData, num_edges: int) -> np.ndarray:
    """For every edge j → i of the padded graph the index of i → j (padding: itself).
    Only energies need it (their packets travel back); others get the identity."""
    reverse = np.arange(num_edges, dtype=np.int32)
    if data.num_edges:
        reverse[: data.num_edges] = reverse_edges(data.senders, data.receivers)
    return reverse


@eqx.filter_jit
def tick(model, graph: Graph, h, h_view, g_in, layer, alpha):
    """(every node's candidate new state, the packets of every edge).

    ``h_view[e]``, ``g_in[e]``: the view of h_j and the packet g_ji held for edge
    e = j → i; ``layer``: each node's next layer (explicit models; a node that has run
    its L layers keeps its state). The packet returned on
    edge e = j → i is ∂e_i/∂(i's view of h_j), which i sends to j (energies; width 0
    otherwise)."""
    prepared = model.prepare(graph)
    if model.family == "optimisation":
        own, packets = model.local_gradients(graph, h, h_view, prepared)
        incoming = jax.ops.segment_sum(g_in, graph.receivers, num_segments=graph.num_nodes)
        return h - alpha * (own + incoming), packets
    empty = jnp.zeros((graph.senders.shape[0], 0), h.dtype)
    if model.family == "fixed-point":
        return model.update(graph, h, h_view, prepared), empty
    layers = jnp.stack([model.step(k, graph, h, h_view, prepared) for k in range(model.num_layers)])
    index = jnp.minimum(layer, model.num_layers - 1)
    new = layers[index, jnp.arange(graph.num_nodes)]
    return jnp.where((layer < model.num_layers)[:, None], new, h), empty  # done after L


def initial_states(model, graph: Graph):
    """H(0): zeros for implicit models, the input layer for explicit ones."""
    if model.family == "explicit":
        return np.asarray(model.initial_state(graph))
    return np.zeros((graph.num_nodes, model.hidden), np.dtype(graph.nodes.dtype))


def packet_width(model) -> int:
    """Width of g_ji in a packet: the state size for energies, 0 otherwise."""
    return model.hidden if model.family == "optimisation" else 0
