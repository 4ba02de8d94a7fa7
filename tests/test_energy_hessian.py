"""The energy GNN's structured local Hessians (`hogwild.models._energy_hessian`) equal the
generic ones (k(1 + d) Hessian-vector products of the local rule), entry by entry, for
every variant, with the conditioning scales, from stale views and on padded batches."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from hogwild.models._base import AbstractEnergyGNN, ReceiverSlots


@pytest.fixture
def batch(graphs):
    """Graphs of different sizes and degrees (one edge feature, random edge weights come
    with the random graphs), padded into one batch."""
    parts = [
        graphs.random(7, edge_size=1, extra=6),
        graphs.chain(4, edge_size=1),
        graphs.random(5, edge_size=1, extra=4, directed=True),
    ]
    return graphs.batch(parts)


@eqx.filter_jit
def _both(model, graph, h, h_view, slots):
    prepared = model.prepare(graph)
    structured = model.local_hessians(graph, h, h_view, slots, prepared)
    generic = AbstractEnergyGNN.local_hessians(model, graph, h, h_view, slots, prepared)
    return structured, generic


@pytest.mark.parametrize("variant", ["node", "edge", "attention"])
@pytest.mark.parametrize("max_condition", [None, 30.0])
@pytest.mark.parametrize("stale", [False, True])
def test_structured_hessians_equal_the_generic_ones(
    variant, max_condition, stale, batch, energy_model
):
    graph = batch
    model = energy_model(variant, max_condition=max_condition)
    rng = np.random.default_rng(1)
    h = jnp.asarray(rng.normal(size=(graph.num_nodes, model.hidden)))
    h_view = h[graph.senders]
    if stale:  # a receiver's copies of its neighbours' states, out of date
        h_view = h_view + jnp.asarray(0.3 * rng.normal(size=h_view.shape))
    slots = ReceiverSlots.of(graph)
    structured, generic = _both(model, graph, h, h_view, slots)
    assert (
        structured.shape
        == generic.shape
        == (graph.num_nodes, slots.degree + 1, slots.degree + 1, model.hidden, model.hidden)
    )
    assert float(jnp.max(jnp.abs(generic))) > 1e-3  # the comparison is not of zeros
    np.testing.assert_allclose(structured, generic, rtol=1e-9, atol=1e-12)
