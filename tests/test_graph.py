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


def test_batch_graphs_padded_sizes_are_powers_of_two(graphs):
    for sizes in ([3], [4, 5], [6, 6, 2], [9, 3, 3, 8]):
        b = graphs.batch([graphs.chain(n) for n in sizes])
        n_real = sum(sizes)
        m_real = sum(2 * (n - 1) for n in sizes)
        for size, real, smallest in (
            (b.num_nodes, n_real + 1, 8),
            (b.senders.shape[0], m_real, 8),
            (b.num_graphs, len(sizes) + 1, 2),
        ):
            # The smallest power of two that fits (and is at least the minimum bucket).
            assert _is_power_of_two(size), size
            assert real <= size and (size == smallest or size // 2 < real), (size, real)


def test_batch_graphs_shapes_repeat_across_similar_batches(graphs):
    a = graphs.batch([graphs.chain(5), graphs.chain(6)])
    b = graphs.batch([graphs.chain(4), graphs.random(5, extra=1), graphs.chain(3)])
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


def test_bucket_is_smallest_power_of_two_at_least_n():
    for n in range(1, 70):
        k = bucket(n, minimum=1)
        assert _is_power_of_two(k) and k >= n and (k == 1 or k // 2 < n)
    assert bucket(3) == 8 and bucket(9) == 16


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
    with pytest.raises(hogwild.GraphError, match="no feature 'x'"):
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
    "pairs, directed",
    [([(0, 1), (0, 1)], True), ([(0, 1), (1, 0)], False), ([(1, 2), (0, 1), (2, 1)], False)],
)
def test_graph_error_duplicate_edge(pairs, directed):
    with pytest.raises(hogwild.GraphError, match="duplicate directed edge"):
        hogwild.graph_from_edges(X3, pairs, directed=directed)
    # The reverse direction alone is not a duplicate.
    hogwild.graph_from_edges(X3, [(0, 1), (1, 0)], directed=True)


def test_graph_error_no_edges():
    with pytest.raises(hogwild.GraphError, match="no edges.*allow_no_edges=True"):
        hogwild.graph_from_edges(X3, [])
    g = hogwild.graph_from_edges(X3, [], allow_no_edges=True)
    assert g.num_edges == 0 and g.edges.shape == (0, 0) and g.edge_weight.shape == (0,)


def test_graph_error_edge_feature_rows():
    with pytest.raises(hogwild.GraphError, match="`edges` has 3 rows but the graph has 2 edges"):
        hogwild.graph_from_edges(X3, [(0, 1), (1, 2)], edges=np.ones((3, 1)), directed=True)
    with pytest.raises(hogwild.GraphError, match="`edges` has 6 rows but the graph has 4 edges"):
        hogwild.graph_from_edges(X3, [(0, 1), (1, 2)], edges=np.ones((3, 1)))


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
