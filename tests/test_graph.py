"""The graph container: validation errors, batching invariants, networkx import."""

from __future__ import annotations

import jax
import networkx as nx
import numpy as np
import pytest

import hogwild
from hogwild.graph import GraphData, bucket, unbatch_node_values


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _is_bucket_size(n: int) -> bool:
    """A power of two up to 8, or 2^j times 4, 5, 6 or 7 above it."""
    if n <= 8:
        return _is_power_of_two(n)
    while n % 2 == 0 and n > 7:
        n //= 2
    return n in (1, 2, 4, 5, 6, 7)


BUCKETS = sorted(k for k in range(1, 5000) if _is_bucket_size(k))


def _three_graphs(graphs):
    return [
        graphs.random(5, edge_size=3, extra=1),
        graphs.chain(4, edge_size=3),
        graphs.random(7, edge_size=3, extra=3, directed=True),
    ]


# --- batching ---------------------------------------------------------------------------


def test_batch_graphs_offsets_and_features(graphs):
    gs = _three_graphs(graphs)
    b = graphs.batch(gs)
    node_off = np.cumsum([0] + [g.num_nodes for g in gs])
    edge_off = np.cumsum([0] + [g.num_edges for g in gs])
    senders, receivers = np.asarray(b.senders), np.asarray(b.receivers)
    for k, g in enumerate(gs):
        ns, es = slice(node_off[k], node_off[k + 1]), slice(edge_off[k], edge_off[k + 1])
        np.testing.assert_array_equal(senders[es], g.senders + node_off[k])
        np.testing.assert_array_equal(receivers[es], g.receivers + node_off[k])
        np.testing.assert_array_equal(np.asarray(b.nodes)[ns], g.nodes)
        np.testing.assert_array_equal(np.asarray(b.edges)[es], g.edges)
        np.testing.assert_array_equal(np.asarray(b.edge_weight)[es], g.edge_weight)
        np.testing.assert_array_equal(np.asarray(b.node_graph)[ns], k)
        assert int(b.n_node[k]) == g.num_nodes
    assert b.nodes.dtype == np.float64 and b.edges.dtype == np.float64
    assert b.edge_weight.dtype == np.float64
    assert np.issubdtype(b.senders.dtype, np.integer)


def test_batch_graphs_masks(graphs):
    gs = _three_graphs(graphs)
    b = graphs.batch(gs)
    n_real = sum(g.num_nodes for g in gs)
    m_real = sum(g.num_edges for g in gs)
    np.testing.assert_array_equal(np.asarray(b.node_mask), np.arange(b.num_nodes) < n_real)
    np.testing.assert_array_equal(np.asarray(b.edge_mask), np.arange(b.senders.shape[0]) < m_real)
    np.testing.assert_array_equal(np.asarray(b.graph_mask), np.arange(b.num_graphs) < len(gs))
    assert b.num_nodes > n_real and b.num_graphs > len(gs)  # padding always exists
    # Padding nodes belong to a padding graph and have zero features.
    pad_graphs = np.asarray(b.node_graph)[~np.asarray(b.node_mask)]
    assert not np.any(np.asarray(b.graph_mask)[pad_graphs])
    np.testing.assert_array_equal(np.asarray(b.nodes)[n_real:], 0.0)
    np.testing.assert_array_equal(np.asarray(b.n_node)[len(gs) :], 0)


def test_batch_graphs_padding_edges_are_inert(graphs):
    gs = _three_graphs(graphs)
    b = graphs.batch(gs)
    pad = ~np.asarray(b.edge_mask)
    assert pad.any(), "this batch should need padding edges"
    node_mask = np.asarray(b.node_mask)
    np.testing.assert_array_equal(np.asarray(b.edge_weight)[pad], 0.0)
    assert not node_mask[np.asarray(b.senders)[pad]].any()
    assert not node_mask[np.asarray(b.receivers)[pad]].any()
    np.testing.assert_array_equal(np.asarray(b.edges)[pad], 0.0)
    # Real edges join real nodes with their own (positive) weight.
    real = np.asarray(b.edge_mask)
    assert node_mask[np.asarray(b.senders)[real]].all()
    assert node_mask[np.asarray(b.receivers)[real]].all()
    assert (np.asarray(b.edge_weight)[real] > 0).all()


def test_batch_graphs_padded_sizes_are_buckets(graphs):
    for sizes in ([3], [4, 5], [6, 6, 2], [9, 3, 3, 8]):
        b = graphs.batch([graphs.chain(n) for n in sizes])
        n_real = sum(sizes)
        m_real = sum(2 * (n - 1) for n in sizes)
        for size, real, smallest in (
            (b.num_nodes, n_real + 1, 8),
            (b.senders.shape[0], m_real, 8),
            (b.num_graphs, len(sizes) + 1, 2),
        ):
            # The smallest bucket size that fits (and is at least the minimum bucket).
            assert size == min(k for k in BUCKETS if k >= max(real, smallest)), (size, real)


def test_batch_graphs_shapes_repeat_across_similar_batches(graphs):
    a = graphs.batch([graphs.chain(5), graphs.chain(6)])
    b = graphs.batch([graphs.chain(4), graphs.random(4, extra=1), graphs.chain(3)])
    shapes = lambda g: jax.tree_util.tree_map(lambda x: x.shape, g)  # noqa: E731
    assert shapes(a) == shapes(b)
    traces = []

    @jax.jit
    def total(g):
        traces.append(1)
        return g.nodes.sum() + g.edge_weight.sum()

    total(a), total(b)
    assert len(traces) == 1, "a second batch in the same size bucket must not recompile"


def test_batch_graphs_unpadded_sizes(graphs):
    gs = [graphs.chain(3), graphs.chain(4)]
    b = graphs.batch(gs, pad=False)
    assert b.num_nodes == 8 and b.senders.shape[0] == 10 and b.num_graphs == 3


def test_bucket_is_smallest_bucket_size_at_least_n_and_wastes_at_most_a_quarter():
    for n in range(1, 4000):
        k = bucket(n, minimum=1)
        assert k == min(b for b in BUCKETS if b >= n), n
        assert n <= 8 or k <= 1.25 * n, (n, k)
    assert bucket(3) == 8 and bucket(9) == 10 and bucket(2400) == 2560 and bucket(4000) == 4096


def test_unbatch_node_values_inverts_batch(graphs):
    gs = _three_graphs(graphs)
    b = graphs.batch(gs)
    parts = unbatch_node_values(b.nodes, gs)
    assert len(parts) == len(gs)
    for part, g in zip(parts, gs):
        np.testing.assert_array_equal(part, g.nodes)
    values = np.random.default_rng(1).normal(size=(b.num_nodes, 3))
    parts = unbatch_node_values(values, gs)
    np.testing.assert_array_equal(np.concatenate(parts), values[: sum(g.num_nodes for g in gs)])


def test_batch_graphs_graph_without_edges(graphs):
    lonely = hogwild.graph_from_edges(np.ones((3, 2)), [], allow_no_edges=True)
    assert lonely.num_edges == 0
    b = graphs.batch([lonely, graphs.chain(3)])
    assert int(np.asarray(b.edge_mask).sum()) == 4
    np.testing.assert_array_equal(np.asarray(b.senders)[:4], [3, 4, 4, 5])


# --- construction ---------------------------------------------------------------------


def test_graph_from_edges_undirected_adds_both_directions():
    w = np.array([0.5, 2.0])
    e = np.array([[1.0], [3.0]])
    g = hogwild.graph_from_edges(np.zeros((3, 1)), [(0, 1), (1, 2)], edges=e, edge_weight=w)
    got = sorted(zip(g.senders.tolist(), g.receivers.tolist(), g.edges[:, 0], g.edge_weight))
    assert got == [(0, 1, 1.0, 0.5), (1, 0, 1.0, 0.5), (1, 2, 3.0, 2.0), (2, 1, 3.0, 2.0)]
    d = hogwild.graph_from_edges(np.zeros((3, 1)), [(0, 1), (1, 2)], directed=True)
    assert d.senders.tolist() == [0, 1] and d.receivers.tolist() == [1, 2]


def _assert_same_graph(a: GraphData, b: GraphData):
    for field in ("nodes", "senders", "receivers", "edges", "edge_weight"):
        x, y = getattr(a, field), getattr(b, field)
        assert x.shape == y.shape, field
        np.testing.assert_array_equal(x, y, err_msg=field)


def test_graph_from_networkx_equals_graph_from_edges():
    rng = np.random.default_rng(3)
    nxg = nx.gnm_random_graph(9, 14, seed=3)
    for v in nxg.nodes:
        nxg.nodes[v]["x"] = rng.normal(size=3).astype(np.float32)
    for a, b in nxg.edges:
        nxg.edges[a, b]["e"] = rng.normal(size=2).astype(np.float32)
    x = np.stack([nxg.nodes[v]["x"] for v in nxg.nodes])
    pairs = list(nxg.edges)
    feats = np.stack([nxg.edges[p]["e"] for p in pairs])
    _assert_same_graph(hogwild.graph_from_networkx(nxg), hogwild.graph_from_edges(x, pairs))
    _assert_same_graph(
        hogwild.graph_from_networkx(nxg, edge_feature="e"),
        hogwild.graph_from_edges(x, pairs, edges=feats),
    )


def test_graph_from_networkx_relabels_and_keeps_direction():
    nxg = nx.DiGraph()
    for k, name in enumerate("cab"):
        nxg.add_node(name, x=[float(k), 1.0])
    nxg.add_edges_from([("c", "a"), ("a", "b"), ("b", "a")])
    g = hogwild.graph_from_networkx(nxg)
    ref = hogwild.graph_from_edges(
        np.array([[0, 1], [1, 1], [2, 1]], np.float32), [(0, 1), (1, 2), (2, 1)], directed=True
    )
    _assert_same_graph(g, ref)


def test_graph_from_networkx_missing_feature_raises():
    nxg = nx.path_graph(3)
    with pytest.raises(hogwild.GraphError, match="node 0 has no feature 'x'"):
        hogwild.graph_from_networkx(nxg)


def _nx_path(edge_value):
    nxg = nx.path_graph(3)
    nx.set_node_attributes(nxg, {v: [float(v), 1.0] for v in nxg.nodes}, "x")
    nxg.edges[0, 1]["e"] = 0.5
    if edge_value is not None:
        nxg.edges[1, 2]["e"] = edge_value
    return nxg


def test_graph_from_networkx_missing_edge_feature_names_the_edge():
    with pytest.raises(hogwild.GraphError, match=r"edge \(1, 2\) has no feature 'e'"):
        hogwild.graph_from_networkx(_nx_path(None), edge_feature="e")
    g = hogwild.graph_from_networkx(_nx_path(1.5), edge_feature="e")
    assert sorted(g.edges[:, 0].tolist()) == [0.5, 0.5, 1.5, 1.5]


def test_graph_from_networkx_without_nodes_raises():
    with pytest.raises(hogwild.GraphError, match="networkx graph has no nodes"):
        hogwild.graph_from_networkx(nx.Graph())


@pytest.mark.parametrize("value", ["long", None, {"a": 1}])
def test_graph_from_networkx_non_numeric_node_feature_raises(value):
    nxg = _nx_path(1.5)
    nxg.nodes[2]["x"] = value
    with pytest.raises(hogwild.GraphError, match="node 2 has a non-numeric feature 'x'"):
        hogwild.graph_from_networkx(nxg)


def test_graph_from_networkx_non_numeric_edge_feature_raises():
    with pytest.raises(hogwild.GraphError, match=r"edge \(1, 2\) has a non-numeric feature 'e'"):
        hogwild.graph_from_networkx(_nx_path("wide"), edge_feature="e")


def test_graph_from_networkx_features_of_different_sizes_raise():
    nxg = _nx_path(1.5)
    nxg.nodes[1]["x"] = [1.0, 2.0, 3.0]
    with pytest.raises(hogwild.GraphError, match=r"node features 'x' differ in shape"):
        hogwild.graph_from_networkx(nxg)


# --- validation -------------------------------------------------------------------------

X3 = np.zeros((3, 2))


def _raw(**overrides):
    """A valid directed 3-node `GraphData` with some fields replaced."""
    fields = dict(
        nodes=X3,
        senders=np.array([0, 1]),
        receivers=np.array([1, 2]),
        edges=np.zeros((2, 0)),
        edge_weight=np.ones(2),
    )
    fields.update(overrides)
    return GraphData(**fields)


def test_graph_error_is_value_error():
    assert issubclass(hogwild.GraphError, ValueError)


@pytest.mark.parametrize("pair, name", [((0, 3), "3"), ((-1, 1), "-1")])
def test_graph_error_index_out_of_range(pair, name):
    with pytest.raises(hogwild.GraphError, match=rf"node index {name}, out of range .*3 nodes"):
        hogwild.graph_from_edges(X3, [pair], directed=True)
    with pytest.raises(hogwild.GraphError, match="out of range"):
        hogwild.graph_from_edges(X3, [pair])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_graph_error_non_finite_features(bad):
    x = X3.copy()
    x[1, 1] = bad
    with pytest.raises(hogwild.GraphError, match=r"`nodes` contains NaN or inf .*\[1, 1\]"):
        hogwild.graph_from_edges(x, [(0, 1)])
    e = np.ones((1, 2))
    e[0, 0] = bad
    with pytest.raises(hogwild.GraphError, match="`edges` contains NaN or inf"):
        hogwild.graph_from_edges(X3, [(0, 1)], edges=e)
    with pytest.raises(hogwild.GraphError, match="`edge_weight` contains NaN or inf"):
        hogwild.graph_from_edges(X3, [(0, 1)], edge_weight=[bad])


def test_graph_error_mismatched_senders_receivers():
    with pytest.raises(hogwild.GraphError, match="`senders` and `receivers` must match"):
        _raw(receivers=np.array([1]))


def test_graph_error_empty_graph():
    with pytest.raises(hogwild.GraphError, match=r"empty \(0 nodes\)"):
        hogwild.graph_from_edges(np.zeros((0, 2)), [], allow_no_edges=True)
    with pytest.raises(hogwild.GraphError, match=r"empty \(0 nodes\)"):
        _raw(
            nodes=np.zeros((0, 2)),
            senders=np.zeros(0, int),
            receivers=np.zeros(0, int),
            edges=np.zeros((0, 0)),
            edge_weight=np.zeros(0),
        )


def test_graph_error_integer_node_features():
    with pytest.raises(hogwild.GraphError, match="`nodes` must be floating point.*int"):
        hogwild.graph_from_edges(np.zeros((3, 2), dtype=np.int32), [(0, 1)])


def test_graph_error_float_indices():
    with pytest.raises(hogwild.GraphError, match="`senders` must be integers.*float"):
        _raw(senders=np.array([0.0, 1.0]))
    with pytest.raises(hogwild.GraphError, match="`receivers` must be integers.*float"):
        _raw(receivers=np.array([1.0, 2.0]))


@pytest.mark.parametrize("pairs", [[(0.5, 1.7)], [(0.0, np.nan)]])
def test_graph_error_float_indices_in_edge_list(pairs):
    with pytest.raises(hogwild.GraphError, match="integer"):
        hogwild.graph_from_edges(X3, pairs)


def test_graph_error_wrong_dimensions():
    with pytest.raises(hogwild.GraphError, match="`nodes` must have 2 dimensions"):
        hogwild.graph_from_edges(np.zeros(3), [(0, 1)])
    with pytest.raises(hogwild.GraphError, match="`senders` must be 1-D"):
        _raw(senders=np.array([[0, 1]]))


def test_graph_error_self_loop():
    with pytest.raises(hogwild.GraphError, match="self-loop on node 2"):
        hogwild.graph_from_edges(X3, [(0, 1), (2, 2)])


@pytest.mark.parametrize(
    "pairs, message",
    [
        ([(0, 1), (0, 1)], r"edge 1 \(0 -> 1\) duplicates edge 0;"),
        ([(0, 1), (1, 2), (2, 0), (1, 2)], r"edge 3 \(1 -> 2\) duplicates edge 1;"),
        ([(2, 1), (0, 1), (1, 0), (0, 1), (2, 1)], r"edge 3 \(0 -> 1\) duplicates edge 1;"),
    ],
)
def test_graph_error_duplicate_directed_edge_is_named(pairs, message):
    with pytest.raises(hogwild.GraphError, match=message):
        hogwild.graph_from_edges(X3, pairs, directed=True)
    # The reverse direction alone is not a duplicate.
    hogwild.graph_from_edges(X3, [(0, 1), (1, 0)], directed=True)


def test_graph_error_duplicate_edge_in_graph_data_is_named():
    with pytest.raises(hogwild.GraphError, match=r"edge 2 \(1 -> 2\) duplicates edge 1;"):
        _raw(
            senders=np.array([0, 1, 1]),
            receivers=np.array([1, 2, 2]),
            edges=np.zeros((3, 0)),
            edge_weight=np.ones(3),
        )


@pytest.mark.parametrize(
    "pairs, message",
    [
        ([(0, 1), (1, 0)], r"pair 1 \(1, 0\) of `edge_list` duplicates pair 0 \(0, 1\)"),
        ([(1, 2), (0, 1), (2, 1)], r"pair 2 \(2, 1\) of `edge_list` duplicates pair 0 \(1, 2\)"),
        ([(0, 2), (0, 1), (0, 1)], r"pair 2 \(0, 1\) of `edge_list` duplicates pair 1 \(0, 1\)"),
    ],
)
def test_graph_error_duplicate_undirected_pair_is_named_as_typed(pairs, message):
    with pytest.raises(hogwild.GraphError, match=message):
        hogwild.graph_from_edges(X3, pairs)


@pytest.mark.parametrize("edge_list", [[[0, 1, 2], [1, 2, 0]], np.array([[0, 1, 2], [1, 2, 0]])])
def test_graph_error_edge_list_of_shape_2_by_e_says_transpose(edge_list):
    """A (2, E) array would otherwise be regrouped into the wrong pairs (0, 1), (2, 1), ..."""
    with pytest.raises(hogwild.GraphError, match=r"shape \(2, 3\).*transpose"):
        hogwild.graph_from_edges(X3, edge_list)
    g = hogwild.graph_from_edges(X3, np.asarray(edge_list).T, directed=True)
    assert g.senders.tolist() == [0, 1, 2] and g.receivers.tolist() == [1, 2, 0]


@pytest.mark.parametrize(
    "edge_list, shape",
    [
        ([0, 1, 1, 2], r"\(4,\)"),
        (np.zeros((2, 2, 2), int), r"\(2, 2, 2\)"),
        ([[0, 1, 2]], r"\(1, 3\)"),
    ],
)
def test_graph_error_edge_list_of_other_shapes_names_the_shape(edge_list, shape):
    with pytest.raises(hogwild.GraphError, match=rf"`edge_list` must have shape \(E, 2\).*{shape}"):
        hogwild.graph_from_edges(X3, edge_list)


def test_graph_error_ragged_edge_list():
    with pytest.raises(hogwild.GraphError, match=r"shape \(E, 2\).*different lengths"):
        hogwild.graph_from_edges(X3, [(0, 1), (1, 2, 0)])


@pytest.mark.parametrize("empty", [[], np.zeros((0, 2), int), np.zeros(0, int)])
def test_graph_from_edges_accepts_an_empty_edge_list(empty):
    g = hogwild.graph_from_edges(X3, empty, allow_no_edges=True)
    assert g.num_edges == 0 and g.senders.dtype.kind == "i"


def test_graph_error_no_edges():
    with pytest.raises(hogwild.GraphError, match="no edges.*allow_no_edges=True"):
        hogwild.graph_from_edges(X3, [])
    g = hogwild.graph_from_edges(X3, [], allow_no_edges=True)
    assert g.num_edges == 0 and g.edges.shape == (0, 0) and g.edge_weight.shape == (0,)


@pytest.mark.parametrize("directed", [True, False])
def test_graph_error_edge_feature_rows(directed):
    pairs = [(0, 1), (1, 2)]
    with pytest.raises(hogwild.GraphError, match="`edges` has 3 rows but `edge_list` has 2 pairs"):
        hogwild.graph_from_edges(X3, pairs, edges=np.ones((3, 1)), directed=directed)
    with pytest.raises(hogwild.GraphError, match="`edges` has 1 rows but `edge_list` has 2 pairs"):
        hogwild.graph_from_edges(X3, pairs, edges=[1.0], directed=directed)
    with pytest.raises(hogwild.GraphError, match=r"`edges` must have 2 dimension.*\(2, 1, 1\)"):
        hogwild.graph_from_edges(X3, pairs, edges=np.ones((2, 1, 1)), directed=directed)
    with pytest.raises(hogwild.GraphError, match="`edges` has 3 rows but the graph has 2 edges"):
        _raw(edges=np.ones((3, 1)))


@pytest.mark.parametrize("directed", [True, False])
def test_graph_error_edge_weight_rows(directed):
    pairs = [(0, 1), (1, 2)]
    with pytest.raises(
        hogwild.GraphError, match="`edge_weight` has 3 rows but `edge_list` has 2 pairs"
    ):
        hogwild.graph_from_edges(X3, pairs, edge_weight=[1.0, 2.0, 3.0], directed=directed)
    with pytest.raises(hogwild.GraphError, match=r"`edge_weight` must have 1 dimension.*\(\)"):
        hogwild.graph_from_edges(X3, pairs, edge_weight=2.0, directed=directed)
    with pytest.raises(hogwild.GraphError, match=r"`edge_weight` must have 1 dimension.*\(2, 1\)"):
        hogwild.graph_from_edges(X3, pairs, edge_weight=np.ones((2, 1)), directed=directed)


def test_graph_error_negative_edge_weight():
    with pytest.raises(hogwild.GraphError, match="`edge_weight` must be nonnegative"):
        hogwild.graph_from_edges(X3, [(0, 1), (1, 2)], edge_weight=[1.0, -0.5])


def test_graph_error_targets():
    with pytest.raises(hogwild.GraphError, match="`node_targets` has 2 rows for 3 nodes"):
        hogwild.graph_from_edges(X3, [(0, 1)], node_targets=np.zeros((2, 1)))
    with pytest.raises(hogwild.GraphError, match="`graph_target` contains NaN"):
        hogwild.graph_from_edges(X3, [(0, 1)], graph_target=np.array([np.nan]))


def test_graph_error_batch_feature_sizes(graphs):
    with pytest.raises(
        hogwild.GraphError, match="graph 1 has 3 node / 0 edge features; graph 0 has 2 / 0"
    ):
        graphs.batch([graphs.chain(3), graphs.chain(3, in_size=3)])
    with pytest.raises(hogwild.GraphError, match="graph 2 has 2 node / 1 edge.*must agree"):
        graphs.batch([graphs.chain(3), graphs.chain(4), graphs.chain(3, edge_size=1)])
    with pytest.raises(hogwild.GraphError, match="empty list"):
        graphs.batch([])
