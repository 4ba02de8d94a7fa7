"""Explicitly-defined GNNs: L layers, each a local rule (Appendix A, Eq. 17–20)."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ..graph import Graph
from ._adjacency import RenormalisedAdjacency
from ._base import AbstractGNN, Readout, check_graph
from ._energy import segment_softmax


def layer_biases(bias: int, widths: tuple[int, ...]) -> tuple[Array, ...] | None:
    """Zero-initialised biases b^ℓ for every layer output with ``bias`` = 1, None with 0."""
    if bias not in (0, 1):
        raise ValueError(f"`bias` must be 0 (none, as in the equations) or 1; got {bias!r}.")
    return tuple(jnp.zeros((w,)) for w in widths[1:]) if bias else None


def glorot(key: PRNGKeyArray, out_size: int, in_size: int) -> Array:
    """Glorot-uniform (out, in) weight, the usual initialisation of GCN and GAT."""
    bound = jnp.sqrt(6.0 / (in_size + out_size))
    return jr.uniform(key, (out_size, in_size), minval=-bound, maxval=bound)


class AbstractExplicitGNN(AbstractGNN):
    """Explicit GNN: H^{ℓ+1} = f^ℓ(G, H^ℓ) for ℓ = 0..L-1 from H^0 = X, then the readout.

    The local rule is one layer at one node: ``layer(ℓ, graph, h, h_view)`` maps node i's
    layer-ℓ state and its views of its neighbours to its layer-(ℓ+1) state. States of every
    layer are stored zero-padded to one width, ``state_size``, so that an asynchronous
    executor can hold a neighbour at any layer in a view — and mix layers, which is exactly
    how explicit GNNs fail under asynchrony (Figure 1).
    """

    family: ClassVar[str] = "explicit"
    widths: eqx.AbstractVar[tuple[int, ...]]

    @abc.abstractmethod
    def layer(self, index: int, graph: Graph, h, h_view, prepared=None) -> Array:
        """f^ℓ at every node on states of width ``widths[index]``; output ``widths[index+1]``."""

    def prepare(self, graph: Graph):
        """Layer-independent local data, computed once per forward pass (None: nothing)."""
        del graph

    @property
    def num_layers(self) -> int:
        return len(self.widths) - 1

    @property
    def state_size(self) -> int:
        return max(self.widths)

    def initial_state(self, graph: Graph) -> Float[Array, "nodes state"]:
        """H^0 = X, zero-padded to ``state_size``."""
        return self._pad(graph.nodes)

    def step(self, index: int, graph: Graph, h, h_view, prepared=None) -> Array:
        """Layer ``index`` on padded states: slice to its input width, pad its output."""
        width = self.widths[index]
        return self._pad(self.layer(index, graph, h[:, :width], h_view[:, :width], prepared))

    def output(self, h) -> Float[Array, "nodes hidden"]:
        """The final layer's states (what the readout sees) from padded states."""
        return h[:, : self.widths[-1]]

    def forward(self, graph: Graph) -> Float[Array, "nodes hidden"]:
        """Synchronous inference: every node runs layer ℓ on its neighbours' layer-ℓ states.

        Raises `GraphError` (`check_graph`) when the graph's feature sizes are not the
        model's."""
        check_graph(self, graph)
        prepared = self.prepare(graph)
        h = self.initial_state(graph)
        for index in range(self.num_layers):
            h = self.step(index, graph, h, h[graph.senders], prepared)
        return self.output(h)

    def _pad(self, h):
        return jnp.pad(h, ((0, 0), (0, self.state_size - h.shape[1])))


class GCN(AbstractExplicitGNN):
    """GCN (Kipf & Welling, 2017), Eq. 17: h_i^{ℓ+1} = ReLU(Σ_{j∈N(i)∪{i}} Ã_ij θ^ℓ h_j^ℓ).

    Default: 5 layers of width 10 (Appendix F.1), no bias, as in the equation; ``bias=1``
    adds b^ℓ inside the ReLU, as PyTorch Geometric's ``GCNConv`` does by default. Without
    a bias a node whose receptive field holds no nonzero feature stays exactly 0 in every
    layer, under any schedule; with one it holds a layer-dependent constant, which stale
    views mix.
    """

    weights: tuple[Array, ...]
    biases: tuple[Array, ...] | None
    readout: Readout
    widths: tuple[int, ...] = eqx.field(static=True)
    hidden: int = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    edge_size: None = eqx.field(static=True, default=None)  # edge features are ignored

    def __init__(
        self,
        in_size: int,
        out_size: int,
        *,
        layers: int = 5,
        width: int = 10,
        bias: int = 0,
        graph_level: bool = False,
        key: PRNGKeyArray,
    ):
        wkey, rkey = jr.split(key)
        self.in_size = in_size
        self.widths = (in_size,) + (width,) * layers
        self.biases = layer_biases(bias, self.widths)
        keys = jr.split(wkey, layers)
        self.weights = tuple(
            glorot(k, b, a) for k, a, b in zip(keys, self.widths[:-1], self.widths[1:])
        )
        self.readout = Readout(width, out_size, graph_level=graph_level, key=rkey)
        self.hidden = width

    def prepare(self, graph: Graph):
        return RenormalisedAdjacency.of(graph)

    def layer(self, index, graph, h, h_view, prepared=None):
        adjacency = RenormalisedAdjacency.of(graph) if prepared is None else prepared
        z = adjacency.aggregate(graph, h, h_view) @ self.weights[index].T
        return jax.nn.relu(z if self.biases is None else z + self.biases[index])


class GATLayer(eqx.Module):
    """One GAT layer, Eq. 18–20, with ``heads`` heads of size q concatenated.

    α_ij = softmax_{j ∈ N(i) ∪ {i}} LeakyReLU(a_hᵀ [W_h h_i ‖ W_h h_j]),
    h_i' = ReLU(‖_h Σ_j α_ij W_h h_j).
    """

    project: Float[Array, "heads q inp"]
    attend: Float[Array, "heads two_q"]

    def __init__(self, in_size: int, heads: int, head_size: int, *, key: PRNGKeyArray):
        pkey, akey = jr.split(key)
        self.project = jnp.stack([glorot(k, head_size, in_size) for k in jr.split(pkey, heads)])
        self.attend = jnp.stack([glorot(k, 1, 2 * head_size)[0] for k in jr.split(akey, heads)])

    def __call__(self, graph: Graph, h, h_view, bias=None):
        n = graph.num_nodes
        z_own = jnp.einsum("hqk,nk->nhq", self.project, h)
        z_view = jnp.einsum("hqk,ek->ehq", self.project, h_view)
        q = self.project.shape[1]

        def score(z_i, z_j):
            raw = jnp.einsum("xhq,hq->xh", z_i, self.attend[:, :q])
            raw = raw + jnp.einsum("xhq,hq->xh", z_j, self.attend[:, q:])
            return jax.nn.leaky_relu(raw, 0.2)

        edge_score = jnp.where(
            graph.edge_mask[:, None], score(z_own[graph.receivers], z_view), -1e30
        )
        scores = jnp.concatenate([edge_score, score(z_own, z_own)], 0)
        segments = jnp.concatenate([graph.receivers, jnp.arange(n)])
        alpha = segment_softmax(scores, segments, n)
        values = jnp.concatenate([z_view, z_own], 0) * alpha[..., None]
        messages = jax.ops.segment_sum(values, segments, num_segments=n).reshape(n, -1)
        return jax.nn.relu(messages if bias is None else messages + bias)


class GAT(AbstractExplicitGNN):
    """GAT (Veličković et al., 2018): 5 layers of 3 heads of size 3, concatenated (F.1);
    ``bias=1`` adds b^ℓ to the concatenated heads inside the ReLU (PyTorch Geometric's
    ``GATConv`` default), see `GCN`."""

    layers: tuple[GATLayer, ...]
    biases: tuple[Array, ...] | None
    readout: Readout
    widths: tuple[int, ...] = eqx.field(static=True)
    hidden: int = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    edge_size: None = eqx.field(static=True, default=None)  # edge features are ignored

    def __init__(
        self,
        in_size: int,
        out_size: int,
        *,
        layers: int = 5,
        heads: int = 3,
        head_size: int = 3,
        bias: int = 0,
        graph_level: bool = False,
        key: PRNGKeyArray,
    ):
        lkey, rkey = jr.split(key)
        width = heads * head_size
        self.in_size = in_size
        self.widths = (in_size,) + (width,) * layers
        self.biases = layer_biases(bias, self.widths)
        self.layers = tuple(
            GATLayer(a, heads, head_size, key=k)
            for a, k in zip(self.widths[:-1], jr.split(lkey, layers))
        )
        self.readout = Readout(width, out_size, graph_level=graph_level, key=rkey)
        self.hidden = width

    def layer(self, index, graph, h, h_view, prepared=None):
        bias = None if self.biases is None else self.biases[index]
        return self.layers[index](graph, h, h_view, bias)
