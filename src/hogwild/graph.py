"""Graphs: one host-side graph (`GraphData`) and a padded device-side batch (`Graph`).

A batch of graphs is one disconnected graph stored as a flat pytree (jraph style). Edge
``e`` goes from ``senders[e]`` (node j) to ``receivers[e]`` (node i): the receiver aggregates
what its senders hold. Undirected graphs store both directions. Batches are padded to a
few size buckets (`bucket`: steps of 1.25x) so that `jax.jit` compiles once per bucket; padding
nodes, edges and graphs carry ``False`` in their masks and edge weight 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int


class GraphError(ValueError):
    """A graph that cannot be used, with a message that names the problem."""


@dataclasses.dataclass(frozen=True)
class GraphData:
    """One graph on the host, validated on construction.

    Attributes:
        nodes: node features X, shape (n, p), floating point.
        senders: int array (m,), source node j of each directed edge j -> i.
        receivers: int array (m,), target node i of each directed edge.
        edges: edge features E, shape (m, r) (r may be 0).
        edge_weight: A_ij per edge, shape (m,), default 1.
        node_targets: optional node-level targets Y, shape (n, J).
        graph_target: optional graph-level target, shape (J,).
    """

    nodes: np.ndarray
    senders: np.ndarray
    receivers: np.ndarray
    edges: np.ndarray
    edge_weight: np.ndarray
    node_targets: np.ndarray | None = None
    graph_target: np.ndarray | None = None

    def __post_init__(self):
        validate_graph_data(self)

    @property
    def num_nodes(self) -> int:
        return int(self.nodes.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.senders.shape[0])


def _check_float(name: str, array: np.ndarray, ndim: int) -> None:
    if not np.issubdtype(array.dtype, np.floating):
        raise GraphError(f"`{name}` must be floating point; got dtype {array.dtype}.")
    if array.ndim != ndim:
        raise GraphError(f"`{name}` must have {ndim} dimensions; got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0].tolist()
        raise GraphError(f"`{name}` contains NaN or inf (first at index {bad}).")


def _check_indices(g: GraphData) -> None:
    for name in ("senders", "receivers"):
        array = getattr(g, name)
        if not np.issubdtype(array.dtype, np.integer):
            raise GraphError(f"`{name}` must be integers; got dtype {array.dtype}.")
        if array.ndim != 1:
            raise GraphError(f"`{name}` must be 1-D; got shape {array.shape}.")
        if array.size and (array.min() < 0 or array.max() >= g.num_nodes):
            bad = array[(array < 0) | (array >= g.num_nodes)][0]
            raise GraphError(
                f"`{name}` holds node index {bad}, out of range for a graph of "
                f"{g.num_nodes} nodes (valid: 0..{g.num_nodes - 1})."
            )
    if g.senders.shape != g.receivers.shape:
        raise GraphError(
            f"`senders` and `receivers` must match; got {g.senders.shape} and {g.receivers.shape}."
        )


def _first_duplicate(keys: np.ndarray) -> tuple[int, int] | None:
    """(k, j) with ``keys[k] == keys[j]``, j < k and k the smallest such index, or None."""
    order = np.argsort(keys, kind="stable")
    repeats = np.flatnonzero(keys[order][1:] == keys[order][:-1]) + 1
    if not repeats.size:
        return None
    later = int(order[repeats].min())
    return later, int(np.flatnonzero(keys == keys[later])[0])


def _check_edges(g: GraphData) -> None:
    loops = np.flatnonzero(g.senders == g.receivers)
    if loops.size:
        raise GraphError(
            f"edge {loops[0]} is a self-loop on node {g.senders[loops[0]]}; graphs must not "
            "contain self-loops (models add their own, independently parameterised)."
        )
    duplicate = _first_duplicate(g.senders.astype(np.int64) * g.num_nodes + g.receivers)
    if duplicate is not None:
        later, first = duplicate
        raise GraphError(
            f"edge {later} ({g.senders[later]} -> {g.receivers[later]}) duplicates edge "
            f"{first}; a graph holds each directed edge once."
        )
    if g.edges.shape[0] != g.num_edges:
        raise GraphError(
            f"`edges` has {g.edges.shape[0]} rows but the graph has {g.num_edges} edges."
        )
    if g.edge_weight.shape != (g.num_edges,) or np.any(g.edge_weight < 0):
        raise GraphError(
            f"`edge_weight` must be nonnegative with shape ({g.num_edges},); "
            f"got shape {g.edge_weight.shape}."
        )


def _check_targets(g: GraphData) -> None:
    if g.node_targets is not None:
        _check_float("node_targets", g.node_targets, 2)
        if g.node_targets.shape[0] != g.num_nodes:
            raise GraphError(
                f"`node_targets` has {g.node_targets.shape[0]} rows for {g.num_nodes} nodes."
            )
    if g.graph_target is not None:
        _check_float("graph_target", g.graph_target, 1)


def validate_graph_data(g: GraphData) -> None:
    """Raise `GraphError` naming the first problem found in ``g``."""
    _check_float("nodes", g.nodes, 2)
    if g.num_nodes == 0:
        raise GraphError("the graph is empty (0 nodes).")
    _check_indices(g)
    _check_float("edges", g.edges, 2)
    _check_float("edge_weight", g.edge_weight, 1)
    _check_edges(g)
    _check_targets(g)


def _edge_pairs(edge_list) -> np.ndarray:
    """``edge_list`` as an int64 array of shape (E, 2); an empty list gives (0, 2)."""
    try:
        raw = np.asarray(edge_list)
    except ValueError as err:
        raise GraphError(
            "`edge_list` must have shape (E, 2), one (j, i) pair per row; got pairs of "
            "different lengths."
        ) from err
    if raw.shape in ((0,), (0, 2)):
        return np.zeros((0, 2), np.int64)
    if not np.issubdtype(raw.dtype, np.integer):
        raise GraphError(f"`edge_list` must hold integer node indices; got dtype {raw.dtype}.")
    if raw.ndim == 2 and raw.shape[1] == 2:
        return raw.astype(np.int64)
    if raw.ndim == 2 and raw.shape[0] == 2:
        raise GraphError(
            f"`edge_list` has shape {raw.shape}, but pairs go in rows: shape (E, 2); "
            "transpose it (edge_list.T)."
        )
    raise GraphError(
        f"`edge_list` must have shape (E, 2), one (j, i) pair per row; got shape {raw.shape}."
    )


def _per_pair(name: str, value, num_pairs: int, ndim: int) -> np.ndarray:
    """``value`` (edge features or weights) checked to hold one row per pair."""
    array = np.asarray(value)
    if array.ndim != ndim:
        raise GraphError(
            f"`{name}` must have {ndim} dimension(s), one row per pair of `edge_list`; "
            f"got shape {array.shape}."
        )
    if array.shape[0] != num_pairs:
        raise GraphError(
            f"`{name}` has {array.shape[0]} rows but `edge_list` has {num_pairs} pairs; "
            "give one row per pair."
        )
    return array


def _check_undirected_pairs(pairs: np.ndarray) -> None:
    """Refuse a node pair listed twice (in either order) in an undirected edge list."""
    if not len(pairs):
        return
    unordered = np.sort(pairs, axis=1)
    _, ids = np.unique(unordered, axis=0, return_inverse=True)
    duplicate = _first_duplicate(ids.reshape(-1))
    if duplicate is not None:
        (later, first), (a, b), (c, d) = duplicate, pairs[duplicate[0]], pairs[duplicate[1]]
        raise GraphError(
            f"pair {later} ({a}, {b}) of `edge_list` duplicates pair {first} ({c}, {d}); an "
            "undirected edge list holds each node pair once, in either order."
        )


def graph_from_edges(
    nodes,
    edge_list,
    *,
    edges=None,
    edge_weight=None,
    directed: bool = False,
    allow_no_edges: bool = False,
    node_targets=None,
    graph_target=None,
) -> GraphData:
    """Build a `GraphData` from node features and a list of (j, i) pairs.

    Args:
        nodes: node features, shape (n, p).
        edge_list: pairs (j, i), shape (E, 2) (a list of pairs or an array; an empty list
            is allowed with ``allow_no_edges``); for ``directed=False`` each pair is added
            in both directions (and its edge features / weight are shared by both), so a
            node pair may appear only once, in either order.
        edges: optional edge features, one row per pair, shape (E, r) (or (E,) for r = 1).
        edge_weight: optional nonnegative weights, one per pair, shape (E,).
        directed: whether pairs are directed edges.
        allow_no_edges: accept a graph without edges (isolated nodes); otherwise an error.

    Raises:
        GraphError: naming the problem (shape, dtype, NaN, index range, self-loop, ...).
    """
    nodes = np.asarray(nodes)
    pairs = _edge_pairs(edge_list)
    if pairs.shape[0] == 0 and not allow_no_edges:
        raise GraphError(
            "the graph has no edges; message passing would be a no-op. Pass "
            "allow_no_edges=True if isolated nodes are intended."
        )
    if edges is None:
        feats = np.zeros((len(pairs), 0), nodes.dtype)
    else:
        feats = np.asarray(edges)
        feats = _per_pair("edges", feats[:, None] if feats.ndim == 1 else feats, len(pairs), 2)
    weight = np.ones(len(pairs), nodes.dtype) if edge_weight is None else edge_weight
    weight = _per_pair("edge_weight", weight, len(pairs), 1)
    senders, receivers = pairs[:, 0], pairs[:, 1]
    if not directed:
        _check_undirected_pairs(pairs)
        senders, receivers = (
            np.concatenate([senders, receivers]),
            np.concatenate([receivers, senders]),
        )
        feats, weight = np.concatenate([feats, feats]), np.concatenate([weight, weight])
    return GraphData(
        nodes=nodes,
        senders=senders,
        receivers=receivers,
        edges=feats,
        edge_weight=weight,
        node_targets=None if node_targets is None else np.asarray(node_targets),
        graph_target=None if graph_target is None else np.asarray(graph_target),
    )


def _nx_feature(where: str, data: dict, name: str) -> np.ndarray:
    """Feature ``name`` of one networkx node or edge as a float32 vector."""
    if name not in data:
        raise GraphError(f"networkx {where} has no feature {name!r}.")
    try:
        value = np.asarray(data[name])
    except ValueError:  # ragged nested lists
        value = np.asarray(None)
    if value.dtype.kind not in "biuf":
        raise GraphError(f"networkx {where} has a non-numeric feature {name!r}: {data[name]!r}.")
    return np.atleast_1d(value.astype(np.float32))


def _nx_stack(kind: str, name: str, rows: list[np.ndarray]) -> np.ndarray:
    shapes = sorted({row.shape for row in rows})
    if len(shapes) > 1:
        raise GraphError(
            f"networkx {kind} features {name!r} differ in shape ({', '.join(map(str, shapes))}); "
            f"every {kind} needs one of the same size."
        )
    return np.stack(rows)


def graph_from_networkx(
    nx_graph, node_feature: str = "x", edge_feature: str | None = None, **kwargs
) -> GraphData:
    """Build a `GraphData` from a networkx graph whose nodes carry features ``node_feature``
    (and, with ``edge_feature``, whose edges carry that one).

    Nodes are renumbered 0..n-1 in ``nx_graph.nodes`` order; directed networkx graphs give
    directed edges. A missing, non-numeric or differently sized feature is a `GraphError`
    naming the node or edge.
    """
    if nx_graph.number_of_nodes() == 0:
        raise GraphError("the networkx graph has no nodes; a graph needs at least one.")
    order = {v: k for k, v in enumerate(nx_graph.nodes)}
    rows = [_nx_feature(f"node {v!r}", d, node_feature) for v, d in nx_graph.nodes(data=True)]
    nodes = _nx_stack("node", node_feature, rows)
    pairs = np.array([(order[a], order[b]) for a, b in nx_graph.edges], np.int64).reshape(-1, 2)
    feats = None
    if edge_feature is not None:
        rows = [
            _nx_feature(f"edge ({a!r}, {b!r})", d, edge_feature)
            for a, b, d in nx_graph.edges(data=True)
        ]
        feats = _nx_stack("edge", edge_feature, rows) if rows else np.zeros((0, 1), np.float32)
    return graph_from_edges(nodes, pairs, edges=feats, directed=nx_graph.is_directed(), **kwargs)


class Graph(eqx.Module):
    """A padded batch of graphs as one disconnected graph.

    Shapes (N padded nodes, M padded edges, G padded graphs, p / r feature sizes):
        nodes (N, p), edges (M, r), senders (M,), receivers (M,), edge_weight (M,),
        node_graph (N,), node_mask (N,), edge_mask (M,), n_node (G,), graph_mask (G,).
    Padding edges join a padding node to itself with weight 0; padding nodes belong to the
    last (padding) graph.
    """

    nodes: Float[Array, "nodes features"]
    edges: Float[Array, "edges edge_features"]
    senders: Int[Array, " edges"]
    receivers: Int[Array, " edges"]
    edge_weight: Float[Array, " edges"]
    node_graph: Int[Array, " nodes"]
    node_mask: Bool[Array, " nodes"]
    edge_mask: Bool[Array, " edges"]
    n_node: Int[Array, " graphs"]
    graph_mask: Bool[Array, " graphs"]

    @property
    def num_nodes(self) -> int:
        return self.nodes.shape[0]

    @property
    def num_graphs(self) -> int:
        return self.n_node.shape[0]


def bucket(n: int, minimum: int = 8) -> int:
    """The padded size for ``n`` items: the smallest size >= max(n, minimum) of the form
    2^j · {1, 1.25, 1.5, 1.75} (every power of two below 8). Padding wastes at most 25 %
    of a batch (powers of two wasted up to 50 %: 2,400 nodes were padded to 4,096), at the
    price of at most four compiled shapes per doubling instead of one."""
    n = max(n, minimum, 1)
    power = 1 << max(0, int(n - 1).bit_length())
    if power <= 8:
        return power
    quarter = power // 8  # power / 2 = 4 quarters; steps of one quarter up to power
    return next(size for size in range(4 * quarter, power + 1, quarter) if size >= n)


def _padded_sizes(graphs: Sequence[GraphData], pad: bool) -> tuple[int, int, int]:
    n = sum(g.num_nodes for g in graphs)
    m = sum(g.num_edges for g in graphs)
    if not pad:
        return n + 1, max(m, 1), len(graphs) + 1
    return bucket(n + 1), bucket(m), bucket(len(graphs) + 1, minimum=2)


def _check_compatible(graphs: Sequence[GraphData]) -> None:
    if not graphs:
        raise GraphError("cannot batch an empty list of graphs.")
    p, r = graphs[0].nodes.shape[1], graphs[0].edges.shape[1]
    for k, g in enumerate(graphs):
        if g.nodes.shape[1] != p or g.edges.shape[1] != r:
            raise GraphError(
                f"graph {k} has {g.nodes.shape[1]} node / {g.edges.shape[1]} edge features; "
                f"graph 0 has {p} / {r}: all graphs of a batch must agree."
            )


def _fill(rows: list[np.ndarray], total: int, width: int, dtype) -> np.ndarray:
    out = np.zeros((total, width), dtype)
    stacked = np.concatenate(rows) if rows else np.zeros((0, width), dtype)
    out[: len(stacked)] = stacked
    return out


def batch_graphs(graphs: Sequence[GraphData], *, pad: bool = True, dtype=np.float32) -> Graph:
    """Join graphs into one padded `Graph` (node and edge order preserved).

    ``pad=True`` rounds node, edge and graph counts up to `bucket` sizes (at least one
    padding node and graph always exist) so that shapes repeat across batches.
    """
    _check_compatible(graphs)
    num_n, num_m, num_g = _padded_sizes(graphs, pad)
    offsets = np.cumsum([0] + [g.num_nodes for g in graphs])
    n_real, m_real = int(offsets[-1]), sum(g.num_edges for g in graphs)
    pad_node = n_real
    senders = np.full(num_m, pad_node, np.int32)
    receivers = np.full(num_m, pad_node, np.int32)
    senders[:m_real] = np.concatenate([g.senders + o for g, o in zip(graphs, offsets)])
    receivers[:m_real] = np.concatenate([g.receivers + o for g, o in zip(graphs, offsets)])
    node_graph = np.full(num_n, num_g - 1, np.int32)
    node_graph[:n_real] = np.repeat(np.arange(len(graphs)), [g.num_nodes for g in graphs])
    n_node = np.zeros(num_g, np.int32)
    n_node[: len(graphs)] = [g.num_nodes for g in graphs]
    return Graph(
        nodes=jnp.asarray(_fill([g.nodes for g in graphs], num_n, graphs[0].nodes.shape[1], dtype)),
        edges=jnp.asarray(_fill([g.edges for g in graphs], num_m, graphs[0].edges.shape[1], dtype)),
        senders=jnp.asarray(senders),
        receivers=jnp.asarray(receivers),
        edge_weight=jnp.asarray(
            _fill([g.edge_weight[:, None] for g in graphs], num_m, 1, dtype)[:, 0]
        ),
        node_graph=jnp.asarray(node_graph),
        node_mask=jnp.asarray(np.arange(num_n) < n_real),
        edge_mask=jnp.asarray(np.arange(num_m) < m_real),
        n_node=jnp.asarray(n_node),
        graph_mask=jnp.asarray(np.arange(num_g) < len(graphs)),
    )


def unbatch_node_values(values, graphs: Sequence[GraphData]) -> list[np.ndarray]:
    """Split per-node values of a batch back into one array per graph (padding dropped)."""
    values = np.asarray(values)
    offsets = np.cumsum([0] + [g.num_nodes for g in graphs])
    return [values[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
