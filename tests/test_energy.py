"""The energy GNN of Section 5: E(G, H) = Σ_i e_i is β-strongly convex in H, the message
PICNN is nondecreasing in the embeddings, e_i is local (Eq. 10), the local gradients
(Eq. 13) add up to ∇E, padding is inert and attention is a softmax over incoming edges.

Test arithmetic is done in numpy; the model is only evaluated through a few jitted helpers
(one compilation per variant and graph shape), which keeps the file fast.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hogwild.graph import unbatch_node_values

VARIANTS = ("node", "edge", "attention")
T = np.linspace(0.0, 1.0, 7)


def _parts(graphs):
    """Three small graphs with one edge feature each; one directed. Alone, each fits in the
    same padded shape (8 nodes, 8 edges); batched they give 14 real nodes."""
    return [
        graphs.chain(4, edge_size=1),
        graphs.random(5, edge_size=1, extra=0),
        graphs.random(5, edge_size=1, extra=2, directed=True),
    ]


def _random_h(graph, rng, scale=2.0, batch=()):
    return scale * rng.normal(size=(*batch, graph.num_nodes, 2))


def _np(graph, name):
    return np.asarray(getattr(graph, name))


@eqx.filter_jit
def _node_energies_one(model, graph, h):
    return model.node_energies(graph, h, h[graph.senders])


def _node_energies(model, graph, hs):
    """e_i for each state in a stack hs (B, N, k), with current views h_view = h[senders].
    (One jitted call per state, so that every stack size reuses one compilation.)"""
    return np.stack([np.asarray(_node_energies_one(model, graph, h)) for h in hs])


def _energies(model, graph, hs):
    return _node_energies(model, graph, hs).sum(-1)


@eqx.filter_jit
def _gradients(model, graph, h, view):
    own, packets = model.local_gradients(graph, h, view)
    summed = own + jax.ops.segment_sum(packets, graph.senders, num_segments=graph.num_nodes)
    full = jax.grad(model.energy, argnums=1)(graph, h)
    return summed, full


@eqx.filter_jit
def _aggregate_one(model, graph, h, view):
    return model.aggregate(graph, h, view)


@eqx.filter_jit
def _update(model, x, y):
    return jax.vmap(model.update)(x, y)


# --- convexity ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_energy_strongly_convex_along_segments(variant, graphs, energy_model):
    """For β-strongly convex E: E(t H1 + (1-t) H2) <= t E(H1) + (1-t) E(H2)
    - (β/2) t (1-t) ||H1 - H2||², on random segments (padding rows included)."""
    model, graph = energy_model(variant), graphs.batch(_parts(graphs))
    rng = np.random.default_rng(0)
    h1, h2 = _random_h(graph, rng, batch=(2, 5))
    t = T[:, None, None, None]
    points = (t * h1 + (1 - t) * h2).reshape(-1, *h1.shape[1:])
    on_segment = _energies(model, graph, points).reshape(len(T), -1)
    e1, e2 = on_segment[-1], on_segment[0]
    dist2 = np.sum((h1 - h2) ** 2, (1, 2))
    tc = T[:, None]
    bound = tc * e1 + (1 - tc) * e2 - 0.5 * model.beta * tc * (1 - tc) * dist2
    tol = 1e-10 * (1 + np.abs(e1) + np.abs(e2))
    assert np.all(on_segment <= bound + tol), np.max(on_segment - bound)
    # Not vacuous: E is not flat along these segments.
    assert np.min(np.abs(e1 - e2)) > 1e-6


@pytest.mark.parametrize("variant", VARIANTS)
def test_energy_strong_convexity_modulus_is_beta_on_padding(variant, graphs, energy_model):
    """Along directions that only move padding nodes E is exactly (β/2)||h_pad||², so the
    strong-convexity inequality holds with equality at the midpoint: β is the modulus."""
    model, graph = energy_model(variant), graphs.batch(_parts(graphs))
    rng = np.random.default_rng(1)
    h1 = _random_h(graph, rng)
    pad = ~_np(graph, "node_mask")
    d = np.where(pad[:, None], rng.normal(size=h1.shape), 0.0)
    e_mid, e1, e2 = _energies(model, graph, np.stack([h1 + d / 2, h1, h1 + d]))
    np.testing.assert_allclose(e_mid, (e1 + e2) / 2 - model.beta / 8 * np.sum(d**2), rtol=1e-12)
    pad_sq = lambda h: np.sum(h[pad] ** 2)  # noqa: E731
    np.testing.assert_allclose(e2 - e1, model.beta / 2 * (pad_sq(h1 + d) - pad_sq(h1)), rtol=1e-10)


# --- monotonicity ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_energy_message_nondecreasing_in_embeddings(variant, graphs, energy_model):
    """m_i (Eq. 16 / 25) is nondecreasing in the receiver's own state and in its views of
    the senders, and u is nondecreasing in m_i: the conditions that make E convex."""
    model, graph = energy_model(variant), graphs.batch(_parts(graphs))
    senders = _np(graph, "senders")
    rng = np.random.default_rng(2)
    for _ in range(4):
        h = _random_h(graph, rng)
        dh = rng.exponential(size=h.shape)
        dv = rng.exponential(size=(len(senders), 2))
        base = np.asarray(_aggregate_one(model, graph, h, h[senders]))
        for label, (h2, v2) in {
            "own": (h + dh, h[senders]),
            "views": (h, h[senders] + dv),
            "both": (h + dh, (h + dh)[senders]),
        }.items():
            moved = np.asarray(_aggregate_one(model, graph, h2, v2))
            drop = np.max(base - moved)
            assert drop <= 1e-12 * (1 + np.max(np.abs(base))), (label, drop)
        assert np.max(np.abs(moved - base)) > 1e-6  # the embeddings do matter
    flags = np.asarray(model.update.z_layers[0].monotone)
    msg_size = sum(head.z_layers[-1].u_lin.weight.shape[0] for head in model.message)
    np.testing.assert_array_equal(flags, np.arange(flags.size) < msg_size)
    x = rng.normal(size=(64, 2))
    y = 3 * rng.normal(size=(64, flags.size))
    d = rng.exponential(size=y.shape) * flags
    before, after = np.asarray(_update(model, x, y)), np.asarray(_update(model, x, y + d))
    assert np.all(after >= before - 1e-12 * (1 + np.abs(before)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_energy_messages_scale_with_edge_weight(variant, graphs, energy_model):
    """m_i = m_self + Σ_j A_ij (α_ij) m(...): affine in the edge weights A, and an edge of
    weight 0 carries nothing."""
    model, graph = energy_model(variant), graphs.batch(_parts(graphs))
    rng = np.random.default_rng(8)
    h = _random_h(graph, rng)
    view = h[_np(graph, "senders")]
    real = _np(graph, "edge_mask")
    w = np.where(real, rng.uniform(0.5, 2.0, size=real.shape), 0.0)

    def aggregate(weight):
        return np.asarray(
            _aggregate_one(
                model, eqx.tree_at(lambda g: g.edge_weight, graph, jnp.asarray(weight)), h, view
            )
        )

    m0, m1, m2 = aggregate(0 * w), aggregate(w), aggregate(2 * w)
    np.testing.assert_allclose(m2 - m1, m1 - m0, rtol=1e-10, atol=1e-12)
    receives = np.bincount(_np(graph, "receivers")[real], minlength=graph.num_nodes) > 0
    assert np.all(np.abs(m1 - m0).max(-1)[receives] > 1e-8)
    np.testing.assert_array_equal(m1[~receives], m0[~receives])


# --- local rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_energy_local_gradients_sum_to_gradient(variant, graphs, energy_model):
    """own_i + Σ_{e: senders[e] = i} packet_e = ∂E/∂h_i when views are current (Eq. 13)."""
    model, graph = energy_model(variant), graphs.batch(_parts(graphs))
    senders = _np(graph, "senders")
    rng = np.random.default_rng(3)
    h = _random_h(graph, rng)
    summed, full = (np.asarray(a) for a in _gradients(model, graph, h, h[senders]))
    assert np.max(np.abs(full)) > 1e-3
    np.testing.assert_allclose(summed, full, rtol=1e-12, atol=1e-13)
    # With stale views the local rule gives a different field, so the views are exercised.
    stale = h[senders] + rng.normal(size=(len(senders), 2))
    summed_stale = np.asarray(_gradients(model, graph, h, stale)[0])
    assert np.max(np.abs(summed_stale - full)) > 1e-6


@pytest.mark.parametrize("variant", VARIANTS)
def test_energy_node_energy_is_local(variant, graphs, energy_model):
    """e_i depends on h_j only for j = i or j ∈ N(i) (an edge j -> i), Eq. 10."""
    model, graph = energy_model(variant), graphs.batch(_parts(graphs))
    rng = np.random.default_rng(4)
    n = graph.num_nodes
    h = _random_h(graph, rng)
    kicks = rng.normal(size=(n, 2))
    hs = np.concatenate([h[None], h[None] + np.eye(n)[:, :, None] * kicks[:, None, :]])
    energies = _node_energies(model, graph, hs)
    changed = np.abs(energies[1:] - energies[0])  # [perturbed node j, node i]
    allowed = np.eye(n, dtype=bool)
    real = _np(graph, "edge_mask")
    allowed[_np(graph, "senders")[real], _np(graph, "receivers")[real]] = True
    scale = np.max(np.abs(energies))
    assert np.all(changed[~allowed] <= 1e-14 * scale), changed[~allowed].max()
    # ... and on every real edge and node it does depend on them.
    mask = _np(graph, "node_mask")
    assert np.all(changed[allowed & mask[:, None] & mask[None, :]] > 1e-12)
    # The batch holds a directed graph, so the dependence is not symmetric.
    assert np.any(allowed & ~allowed.T)


# --- batching and padding ---------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_energy_of_batch_is_sum_of_graph_energies(variant, graphs, energy_model):
    model, parts = energy_model(variant), _parts(graphs)
    batch = graphs.batch(parts)
    rng = np.random.default_rng(5)
    h = _random_h(batch, rng) * _np(batch, "node_mask")[:, None]  # zero on padding nodes
    together = _node_energies(model, batch, h[None])[0]
    alone = []
    for part, h_part in zip(parts, unbatch_node_values(h, parts)):
        g = graphs.batch([part])
        h_alone = np.zeros((g.num_nodes, 2))
        h_alone[: part.num_nodes] = h_part
        e = _node_energies(model, g, h_alone[None])[0]
        np.testing.assert_array_equal(e[part.num_nodes :], 0.0)  # padding adds nothing
        alone.append(e[: part.num_nodes])
    alone = np.concatenate(alone)
    n_real = alone.shape[0]
    np.testing.assert_allclose(together[:n_real], alone, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(together[n_real:], 0.0)
    np.testing.assert_allclose(together.sum(), alone.sum(), rtol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
def test_energy_padding_nodes_hold_only_the_beta_term(variant, graphs, energy_model):
    model, graph = energy_model(variant), graphs.batch(_parts(graphs))
    rng = np.random.default_rng(6)
    mask = _np(graph, "node_mask")
    h = _random_h(graph, rng)
    e_full, e_real = _node_energies(model, graph, np.stack([h, h * mask[:, None]]))
    np.testing.assert_allclose(
        e_full[~mask], 0.5 * model.beta * np.sum(h[~mask] ** 2, -1), rtol=1e-13
    )
    np.testing.assert_allclose(e_full[mask], e_real[mask], rtol=1e-13, atol=1e-14)


# --- attention and readout -------------------------------------------------------------


def test_attention_weights_are_softmax_over_incoming_edges(graphs, energy_model):
    model, graph = energy_model("attention"), graphs.batch(_parts(graphs))
    alpha = np.asarray(model.attention(graph))
    assert alpha.shape == (graph.senders.shape[0], len(model.message)) and alpha.shape[1] == 2
    assert np.all(alpha >= 0)
    recv, snd = _np(graph, "receivers"), _np(graph, "senders")
    real, mask = _np(graph, "edge_mask"), _np(graph, "node_mask")
    sums = np.zeros((graph.num_nodes, alpha.shape[1]))
    np.add.at(sums, recv[real], alpha[real])
    indegree = np.bincount(recv[real], minlength=graph.num_nodes)
    assert np.any(indegree[mask] > 1) and np.any(indegree[mask] == 0)
    np.testing.assert_allclose(sums[mask & (indegree > 0)], 1.0, rtol=1e-12)
    np.testing.assert_array_equal(sums[mask & (indegree == 0)], 0.0)
    # Eq. 26 recomputed in numpy for every head.
    x, e = _np(graph, "nodes"), _np(graph, "edges")
    proj = lambda lin, v: v @ np.asarray(lin.weight).T + np.asarray(lin.bias)  # noqa: E731
    att = model.attention
    for k, (wx, we, a) in enumerate(zip(att.node_proj, att.edge_proj, att.score)):
        s = proj(a, np.concatenate([proj(wx, x[recv]), proj(wx, x[snd]), proj(we, e)], -1))
        s = np.where(s > 0, s, 0.2 * s)[:, 0]
        for i in np.flatnonzero(mask & (indegree > 0)):
            into = real & (recv == i)
            ref = np.exp(s[into] - s[into].max())
            np.testing.assert_allclose(alpha[into, k], ref / ref.sum(), rtol=1e-12)


def test_attention_weights_unaffected_by_other_graphs_and_padding(graphs, energy_model):
    model, parts = energy_model("attention"), _parts(graphs)
    alpha = np.asarray(model.attention(graphs.batch(parts)))
    alone = np.asarray(model.attention(graphs.batch(parts[:1])))
    m0 = parts[0].num_edges
    np.testing.assert_allclose(alpha[:m0], alone[:m0], rtol=1e-13)


def test_readout_shapes_and_graph_level_isolation(graphs, energy_model):
    parts = _parts(graphs)
    batch = graphs.batch(parts)
    rng = np.random.default_rng(7)
    h = jnp.asarray(_random_h(batch, rng))
    assert energy_model("edge").readout(batch, h).shape == (batch.num_nodes, 1)
    model = energy_model("edge", out_size=3, graph_level=True)
    out = np.asarray(model.readout(batch, h))
    assert out.shape == (batch.num_graphs, 3)
    # Graph k's prediction is that of graph k alone: padding nodes and other graphs do not
    # leak into the per-graph mean.
    offsets = np.cumsum([0] + [p.num_nodes for p in parts])
    for k, part in enumerate(parts):
        g = graphs.batch([part])
        h_alone = rng.normal(size=(g.num_nodes, 2))
        h_alone[: part.num_nodes] = h[offsets[k] : offsets[k + 1]]
        np.testing.assert_allclose(model.readout(g, jnp.asarray(h_alone))[0], out[k], rtol=1e-12)
    # ... and it is the graph MLP of the mean of the node MLP over the graph's own nodes
    # (Appendix G.2: a mean, not a sum).
    r = model.readout
    for k in range(len(parts)):
        mean = jnp.mean(jax.vmap(r.node)(h[offsets[k] : offsets[k + 1]]), axis=0)
        np.testing.assert_allclose(out[k], r.scale.restore(r.graph(mean)), rtol=1e-12)
    # ... while moving one node of graph 1 changes graph 1's prediction only.
    moved = np.asarray(model.readout(batch, h.at[offsets[1]].add(1.0)))
    assert np.max(np.abs(moved[1] - out[1])) > 1e-9
    np.testing.assert_array_equal(moved[[0, 2]], out[[0, 2]])


def test_energy_gnn_rejects_bad_configuration(energy_model):
    with pytest.raises(ValueError, match="unknown energy variant 'gat'"):
        energy_model("gat")
    with pytest.raises(ValueError, match="must end in 1 unit"):
        energy_model("edge", update_sizes=(4, 2))
