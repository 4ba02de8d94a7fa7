"""The certificate's coupling matrix in degree groups (`hogwild.asynchrony._coupling`): every
node once, in a width that holds its Hessian; the same blocks, bounds and scalings as the
padded layout, in a fraction of its memory on a graph with a hub."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import hogwild
from hogwild.asynchrony._certificate import _age_parts
from hogwild.asynchrony._coupling import degree_groups, local_blocks
from hogwild.models._base import AbstractEnergyGNN, NodeGroup, ReceiverSlots


@pytest.fixture
def hub(graphs):
    """A star of 24 leaves whose centre starts a path of 12 nodes, beside a random graph:
    one node of in-degree 25, the others of 1-4."""
    leaves = [(0, k) for k in range(1, 25)]
    path = [(0, 25)] + [(k, k + 1) for k in range(25, 36)]
    pairs = leaves + path
    rng = np.random.default_rng(3)
    star = hogwild.graph_from_edges(
        rng.normal(size=(37, 2)), pairs, edges=rng.normal(size=(len(pairs), 1))
    )
    return graphs.batch([star, graphs.random(9, edge_size=1, extra=6)])


def _in_degrees(slots: ReceiverSlots) -> np.ndarray:
    return np.asarray(slots.valid)[:, 1:].sum(axis=1)


def test_degree_groups_hold_every_node_once_in_a_width_that_fits_it(hub):
    slots = ReceiverSlots.of(hub)
    groups = degree_groups(slots)
    members = np.concatenate([np.asarray(g.nodes) for g in groups])
    assert sorted(members.tolist()) == list(range(hub.num_nodes))  # each node once
    degree = _in_degrees(slots)
    for g in groups:
        nodes = np.asarray(g.nodes)
        assert g.width >= 1 + degree[nodes].max()
        assert np.asarray(g.inverse)[nodes].tolist() == list(range(len(nodes)))
    grouped = sum(len(g.nodes) * g.width**2 for g in groups)
    padded = hub.num_nodes * (slots.degree + 1) ** 2
    assert len(groups) >= 2 and grouped < padded / 4  # the hub widens only its own group


@eqx.filter_jit
def _hessians(model, graph, h, slots, groups):
    view, prepared = h[graph.senders], model.prepare(graph)
    dense = AbstractEnergyGNN.local_hessians(model, graph, h, view, slots, prepared)
    generic = AbstractEnergyGNN.grouped_local_hessians(model, graph, h, view, slots, groups)
    structured = model.grouped_local_hessians(graph, h, view, slots, groups, prepared)
    return dense, generic, structured


def test_grouped_hessians_are_the_padded_ones(hub, energy_model):
    """Generic (Hessian-vector products of the group's columns) and structured grouped
    Hessians equal the padded generic ones on each group's nodes, and the padded ones
    hold nothing past a node's group width."""
    model = energy_model("edge")
    slots = ReceiverSlots.of(hub)
    groups = degree_groups(slots)
    h = jnp.asarray(np.random.default_rng(0).normal(size=(hub.num_nodes, model.hidden)))
    dense, generic, structured = _hessians(model, hub, h, slots, groups)
    assert float(jnp.max(jnp.abs(dense))) > 1e-3  # not a comparison of zeros
    for g, gen, struct in zip(groups, generic, structured):
        nodes, w = np.asarray(g.nodes), g.width
        np.testing.assert_allclose(gen, dense[nodes][:, :w, :w], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(struct, dense[nodes][:, :w, :w], rtol=1e-9, atol=1e-12)
        assert not np.any(np.asarray(dense[nodes][:, w:]))  # nothing past the width


@eqx.filter_jit
def _products(model, graph, h, slots, grouped, padded, x):
    """Everything the certificate's bounds read from a coupling, for two groupings: M̃x,
    Mᵀx and the three age parts' products (`lag_coupling`), and each node's curvature
    ranges (every bound is a function of these: power iterations, CG, Collatz–Wielandt)."""

    def read(groups):
        coupling, low, high, scaling = local_blocks(model, graph, h, slots, groups)
        parts = [coupling, coupling.map(lambda b: jnp.swapaxes(b, 1, 2))]
        parts += [coupling.map(lambda b, j=j: _age_parts(b)[j]) for j in range(3)]
        return [p.matvec(x) for p in parts] + [low, high, scaling]

    return read(grouped), read(padded)


def test_certificate_reads_the_same_coupling_from_any_grouping(hub, energy_model):
    """M̃x, its transpose, its age parts and every node's curvature ranges are the same from
    degree groups as from one group of every node at the largest width (the padded layout
    the certificate used before)."""
    model = energy_model("edge")
    slots = ReceiverSlots.of(hub)
    rng = np.random.default_rng(1)
    h = jnp.asarray(rng.normal(size=(hub.num_nodes, model.hidden)))
    x = jnp.asarray(rng.uniform(0.5, 1.5, size=hub.num_nodes))
    padded = (NodeGroup.everyone(hub.num_nodes, slots.degree + 1),)
    grouped, dense = _products(model, hub, h, slots, degree_groups(slots), padded, x)
    assert float(jnp.max(grouped[0])) > 0  # not a comparison of zeros
    for a, b in zip(grouped, dense):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
