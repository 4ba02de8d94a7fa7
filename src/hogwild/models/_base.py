"""What every model shares: the readout o_φ and the contract of each family."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..graph import Graph, GraphError
from ..nn import MLP


class TargetScale(eqx.Module):
    """Standardisation of regression targets by training-split statistics: y = μ + σ ⊙ z.

    The readout predicts z (order 1) and reports y in the task's own units; losses compare
    standardised values (y − μ)/σ. μ and σ are data, not parameters: gradients stop here
    and the optimiser leaves them alone (`frozen_labels`). The identity (μ = 0, σ = 1) is
    what classification tasks and unscaled models carry.
    """

    mean: Float[Array, " out"]
    std: Float[Array, " out"]

    @classmethod
    def identity(cls, out_size: int) -> TargetScale:
        return cls(jnp.zeros((out_size,)), jnp.ones((out_size,)))

    def restore(self, z: Array) -> Array:
        """y = μ + σ ⊙ z (standardised predictions to the task's units)."""
        mean, std = jax.lax.stop_gradient((self.mean, self.std))
        return mean.astype(z.dtype) + std.astype(z.dtype) * z

    def standardise(self, y: Array) -> Array:
        """z = (y − μ) / σ."""
        mean, std = jax.lax.stop_gradient((self.mean, self.std))
        return (y - mean.astype(y.dtype)) / std.astype(y.dtype)


class Readout(eqx.Module):
    """o_φ: MLP (4, 4, J) per node; for graph-level tasks the node predictions are averaged
    per graph and passed through a second MLP (4, 4, C) (Appendix G.2). Its output is the
    standardised prediction z, reported as y = `TargetScale.restore` (z)."""

    node: MLP
    graph: MLP | None
    scale: TargetScale

    def __init__(self, hidden: int, out_size: int, *, graph_level: bool, key: PRNGKeyArray):
        nkey, gkey = jr.split(key)
        node_out = 4 if graph_level else out_size
        self.node = MLP(hidden, (4, 4, node_out), key=nkey)
        self.graph = MLP(node_out, (4, 4, out_size), key=gkey) if graph_level else None
        self.scale = TargetScale.identity(out_size)

    def __call__(self, graph: Graph, h: Float[Array, "nodes hidden"]) -> Array:
        """Predictions in the task's units."""
        return self.scale.restore(self.standardised(graph, h))

    def standardised(self, graph: Graph, h: Float[Array, "nodes hidden"]) -> Array:
        """Predictions in standardised units z (what the MLPs compute)."""
        y = jax.vmap(self.node)(h)
        if self.graph is None:
            return y
        sums = jax.ops.segment_sum(
            jnp.where(graph.node_mask[:, None], y, 0.0),
            graph.node_graph,
            num_segments=graph.num_graphs,
        )
        mean = sums / jnp.maximum(graph.n_node, 1)[:, None]
        return jax.vmap(self.graph)(mean)


def parameter_spec(model):
    """Filter spec of a model's parameters (for `eqx.partition` / `eqx.filter`): every
    floating-point array except the readout's `TargetScale`, which is data."""
    spec = jax.tree_util.tree_map(eqx.is_inexact_array, model)
    return eqx.tree_at(lambda m: (m.readout.scale.mean, m.readout.scale.std), spec, (False, False))


def check_graph(model, graph) -> None:
    """Raise `GraphError` when ``graph`` has feature sizes ``model`` was not built for.

    Compares the node features with ``model.in_size`` and the edge features with
    ``model.edge_size`` (None: the model ignores edge features, any size is fine; a model
    without these attributes is not checked). Shapes are static, so under `jax.jit` this
    runs once, at trace time.
    """
    name = type(model).__name__
    for what, size, attr in (
        ("node", graph.nodes.shape[-1], "in_size"),
        ("edge", graph.edges.shape[-1], "edge_size"),
    ):
        expected = getattr(model, attr, None)
        if expected is not None and size != expected:
            raise GraphError(
                f"graph has {size} {what} features but the model {name!r} expects "
                f"{attr}={expected}."
            )


class AbstractGNN(eqx.Module):
    """A GNN: a way to compute node states H from a graph, then the readout o_φ(H).

    Concrete models declare the feature sizes they were built for as static fields
    ``in_size`` and ``edge_size`` (None when edge features are ignored); `check_graph`
    compares them with a graph's.
    """

    readout: eqx.AbstractVar[Readout]
    hidden: eqx.AbstractVar[int]

    family: eqx.AbstractClassVar[str]

    def check_graph(self, graph) -> None:
        """`check_graph` (module function) for this model."""
        check_graph(self, graph)

    def constrain(self):
        """The model with its parameters put back where the family's guarantee holds
        (applied after every optimiser step; most models need nothing)."""
        return self


class AbstractEnergyGNN(AbstractGNN):
    """Optimisation-based GNN: H* = argmin_H E(G, H) with E = Σ_i e_i strongly convex.

    The local rule is the node energy e_i written on per-edge neighbour views: for edge
    e = (j -> i), ``h_view[e]`` is receiver i's (possibly stale) copy of h_j. The synchronous
    energy uses ``h_view = H[senders]``; an asynchronous executor passes older copies.
    """

    family: ClassVar[str] = "optimisation"

    @abc.abstractmethod
    def node_energies(
        self,
        graph: Graph,
        h: Float[Array, "nodes hidden"],
        h_view: Float[Array, "edges hidden"],
        prepared=None,
    ) -> Float[Array, " nodes"]:
        """e_i for every node from its own state and its views of its neighbours.

        ``prepared`` is ``self.prepare(graph)`` (computed when None)."""

    def prepare(self, graph: Graph):
        """The H-independent part of the energy, computed once per solve (None: nothing)."""
        del graph

    def energy(
        self, graph: Graph, h: Float[Array, "nodes hidden"], prepared=None
    ) -> Float[Array, ""]:
        """E(G, H) = Σ_i e_i(h_i, {h_j : j ∈ N(i)}) (Eq. 4), the synchronous energy."""
        return jnp.sum(self.node_energies(graph, h, h[graph.senders], prepared))

    def local_gradients(self, graph: Graph, h, h_view, prepared=None):
        """Own gradients ∂e_i/∂h_i and outgoing packets g_ji = ∂e_j/∂h_i (Eq. 13).

        Returns ``(own, packets)``: ``own`` (nodes, hidden) and ``packets`` (edges, hidden),
        where packet e = (i -> j) is computed by receiver j from j's own view and is due to
        sender i. Summing ``own + segment_sum(packets, senders)`` gives ∇_H E when the views
        are current.
        """

        def total(a, b):
            return jnp.sum(self.node_energies(graph, a, b, prepared))

        return jax.grad(total, (0, 1))(h, h_view)

    def local_hessians(self, graph: Graph, h, h_view, slots: ReceiverSlots, prepared=None):
        """Every node energy's Hessian in its own coordinates: (nodes, 1 + d, 1 + d, k, k).

        Node j's energy e_j depends on its own state (slot 0) and its views of its
        neighbours (slot r + 1 for the r-th edge into j, `ReceiverSlots`); block [r, s] is
        ∂²e_j/∂z_r∂z_s at (h, h_view), the second-order counterpart of `local_gradients`,
        from the same local rule. The node energies touch disjoint coordinates (own state,
        own views), so one Hessian-vector product along "component a of slot r, at every
        node at once" yields column (r, a) of every node's Hessian: k·(1 + d) products,
        d the largest in-degree, batched in chunks (one traced product, whatever d).
        Slots past a node's degree are zero.
        """

        everyone = NodeGroup.everyone(h.shape[0], slots.degree + 1)
        return self.grouped_local_hessians(graph, h, h_view, slots, [everyone], prepared)[0]

    def grouped_local_hessians(self, graph: Graph, h, h_view, slots, groups, prepared=None):
        """`local_hessians` of each `NodeGroup` in ``groups``, (capacity, w, w, k, k) in its
        own width w: a batch whose few high-degree nodes would otherwise widen every
        node's Hessian to the largest degree (PROTEINS: 26 slots, 9 for all but 57 of its
        43,471 nodes). Column (r, a) for r < w, of the group's nodes only, in chunks of
        `HESSIAN_COLUMN_CHUNK` products: memory Σ_g capacity · w² · k² plus a chunk's
        products, never nodes · (1 + d)² · k²."""

        def grads(a, b):
            return self.local_gradients(graph, a, b, prepared)

        _, linear = jax.linearize(grads, h, h_view)
        return [_group_columns(linear, graph, slots, group, h) for group in groups]

    def hessian_columns(self, max_degree: int) -> int:
        """What `local_hessians` costs, in gradients of E, on graphs of largest in-degree
        ``max_degree``: k(1 + d) Hessian-vector products, about one gradient each
        (`bench/newton_cost.py`: 39 gradients for 40 columns on coordinates)."""
        return self.hidden * (1 + max_degree)

    def local_curvatures(
        self, graph: Graph, h, h_view, slots: ReceiverSlots, prepared=None, groups=None
    ):
        """Own curvature blocks ∂²e_i/∂h_i² and outgoing curvature packets ∂²e_j/∂h_i²:
        the diagonal blocks of `local_hessians`, as `local_gradients` gives the gradients.

        Returns ``(own, packets)``: ``own`` (nodes, k, k) and ``packets`` (edges, k, k),
        packet e = (i -> j) computed by receiver j from its own view of h_i. Summing
        ``own + segment_sum(packets, senders)`` gives the diagonal block ∂²E/∂h_i² of the
        synchronous Hessian when the views are current. ``groups``: disjoint `NodeGroup`s
        holding every node in a width that fits it (`hogwild.asynchrony._coupling.
        degree_groups`), so a hub widens only its own group; None: one group at the
        largest width.
        """
        groups = (NodeGroup.everyone(h.shape[0], slots.degree + 1),) if groups is None else groups
        hessians = self.grouped_local_hessians(graph, h, h_view, slots, groups, prepared)
        return diagonal_blocks(graph, slots, groups, hessians)


#: Hessian-vector products taken at once by the generic local Hessians (`jax.lax.map`).
HESSIAN_COLUMN_CHUNK = 64


def _group_columns(linear, graph: Graph, slots: ReceiverSlots, group: NodeGroup, h):
    """(capacity, w, w, k, k): the local Hessians of ``group``'s nodes in w = ``group.width``
    slots from ``linear`` (the linearised local gradients: own, views), one product per
    column (r, a): "component a of slot r, at every node at once" (the node energies touch
    disjoint coordinates), its rows kept for the group's nodes only."""
    k = h.shape[1]
    width, capacity = group.width, group.nodes.shape[0]
    real_edges = graph.edge_mask[:, None]
    row = group.inverse[graph.receivers]  # capacity (dropped) outside the group

    def column(index):
        r, a = index // k, index % k
        u = jax.nn.one_hot(a, k, dtype=h.dtype)
        own_tangent = jnp.where(r == 0, 1.0, 0.0) * jnp.broadcast_to(u, h.shape)
        view_tangent = jnp.where((slots.rank == r - 1)[:, None] & real_edges, u, 0.0)
        own, views = linear(own_tangent, view_tangent)
        rows = jnp.zeros((capacity, width, k), h.dtype).at[:, 0].set(own[group.nodes])
        views = jnp.where(real_edges, views, 0.0)
        return rows.at[row, slots.rank + 1].add(views, mode="drop")

    count = width * k
    columns = jax.lax.map(column, jnp.arange(count), batch_size=min(count, HESSIAN_COLUMN_CHUNK))
    hess = jnp.moveaxis(columns, 0, -1).reshape(capacity, width, k, width, k)
    return jnp.transpose(hess, (0, 1, 3, 2, 4))


def diagonal_blocks(graph: Graph, slots: ReceiverSlots, groups, hessians):
    """(own, packets) of `AbstractEnergyGNN.local_curvatures` from the node energies'
    Hessians ``hessians`` (capacity, w, w, k, k) of the disjoint ``groups`` that hold every
    node (`grouped_local_hessians`): own (nodes, k, k) block [0, 0] of each node's,
    packets (edges, k, k) block [slot, slot] of the receiver's at the edge's slot."""
    n, k = graph.num_nodes, hessians[0].shape[-1]
    own = jnp.zeros((n, k, k), hessians[0].dtype)
    packets = jnp.zeros((graph.senders.shape[0], k, k), own.dtype)
    for group, hess in zip(groups, hessians):
        capacity = group.nodes.shape[0]
        own = own.at[group.nodes].set(hess[:, 0, 0])
        row = group.inverse[graph.receivers]
        slot = jnp.minimum(slots.rank + 1, group.width - 1)
        picked = hess[jnp.minimum(row, capacity - 1), slot, slot]
        mine = (row < capacity) & graph.edge_mask
        packets = packets + jnp.where(mine[:, None, None], picked, 0.0)
    return own, packets


class NodeGroup(eqx.Module):
    """A set of nodes whose local Hessians are taken in ``width`` slots (a static shape,
    at least 1 + their largest in-degree): ``nodes`` (capacity,) their indices, entries
    past the group's size repeating the last node; ``inverse`` (nodes,) each node's entry
    in ``nodes``, ``capacity`` for nodes outside the group (scatters drop them)."""

    nodes: Array
    inverse: Array
    width: int = eqx.field(static=True)

    @classmethod
    def everyone(cls, num_nodes: int, width: int) -> NodeGroup:
        every = jnp.arange(num_nodes)
        return cls(every, every, width)

    @classmethod
    def where(cls, member, capacity: int, width: int) -> NodeGroup:
        """The nodes where ``member`` holds, at most ``capacity`` of them (the first)."""
        n = member.shape[0]
        index = jnp.nonzero(member, size=capacity, fill_value=n)[0]
        inverse = jnp.full(n, capacity).at[index].set(jnp.arange(capacity), mode="drop")
        return cls(jnp.minimum(index, n - 1), inverse, width)


class ReceiverSlots(eqx.Module):
    """Where each node's views sit: ``rank[e]`` is edge e's position among the real edges
    into its receiver (0 for padding edges), ``node[j, r]`` the node whose state fills slot
    r of node j (slot 0: j itself; slot r + 1: the sender of its r-th incoming edge;
    unused slots point at j and are masked by ``valid``), ``degree`` the largest
    in-degree d."""

    rank: Array
    node: Array
    valid: Array
    degree: int = eqx.field(static=True)

    @classmethod
    def of(cls, graph: Graph) -> ReceiverSlots:
        """Computed on the host (the slot count is a static shape)."""
        receivers = np.asarray(graph.receivers)
        senders = np.asarray(graph.senders)
        real = np.asarray(graph.edge_mask)
        n = int(graph.num_nodes)
        order = np.argsort(np.where(real, receivers, n), kind="stable")
        rank = np.zeros(len(receivers), np.int32)
        counts = np.zeros(n + 1, np.int64)
        for e in order:
            if real[e]:
                rank[e] = counts[receivers[e]]
                counts[receivers[e]] += 1
        degree = int(counts[:n].max()) if n else 0
        node = np.repeat(np.arange(n, dtype=np.int32)[:, None], degree + 1, 1)
        valid = np.zeros((n, degree + 1), bool)
        valid[:, 0] = np.asarray(graph.node_mask)
        node[receivers[real], rank[real] + 1] = senders[real]
        valid[receivers[real], rank[real] + 1] = True
        return cls(jnp.asarray(rank), jnp.asarray(node), jnp.asarray(valid), degree)

    @classmethod
    def traced(cls, graph: Graph, degree: int) -> ReceiverSlots:
        """`of` inside a compiled function, given a ``degree`` at least the graph's largest
        in-degree (the slot count must be static); edges past it are dropped, so a caller
        checks the degree on the host (`hogwild.solve.Newton.for_graphs`)."""
        n = graph.num_nodes
        real = graph.edge_mask
        key = jnp.where(real, graph.receivers, n)
        order = jnp.argsort(key, stable=True)
        ordered = key[order]
        first = jnp.searchsorted(ordered, ordered, side="left")
        rank = (jnp.arange(key.shape[0]) - first).astype(graph.receivers.dtype)
        rank = jnp.zeros_like(graph.receivers).at[order].set(rank)
        rank = jnp.where(real, rank, 0).astype(jnp.int32)
        rows = jnp.where(real, graph.receivers, n)
        node = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[:, None], (n, degree + 1))
        node = node.at[rows, rank + 1].set(graph.senders.astype(jnp.int32), mode="drop")
        valid = jnp.zeros((n, degree + 1), bool).at[:, 0].set(graph.node_mask)
        valid = valid.at[rows, rank + 1].set(True, mode="drop")
        return cls(rank, node, valid, degree)
