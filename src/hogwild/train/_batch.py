"""Batches: a padded `Graph` with its targets and which rows count."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from ..graph import Graph, GraphData, batch_graphs


class Batch(eqx.Module):
    """A padded graph batch with targets (nodes, J) or (graphs, J) and their mask."""

    graph: Graph
    targets: Float[Array, "rows out"]
    mask: Bool[Array, " rows"]


def _targets(graphs: Sequence[GraphData], level: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    if level == "node":
        parts = [g.node_targets for g in graphs]
    else:
        parts = [g.graph_target[None, :] for g in graphs]
    if any(p is None for p in parts):
        raise ValueError(f"every graph needs {level}-level targets for a {level}-level task.")
    stacked = np.concatenate(parts)
    out = np.zeros((rows, stacked.shape[1]), stacked.dtype)
    out[: len(stacked)] = stacked
    return out, np.arange(rows) < len(stacked)


def make_batch(graphs: Sequence[GraphData], level: str, dtype=np.float32) -> Batch:
    """Batch ``graphs`` (padded to power-of-two buckets) with their ``level`` targets."""
    graph = batch_graphs(graphs, dtype=dtype)
    rows = graph.num_nodes if level == "node" else graph.num_graphs
    targets, mask = _targets(graphs, level, rows)
    return Batch(graph, jnp.asarray(targets, dtype), jnp.asarray(mask))


def make_batches(
    graphs: Sequence[GraphData], level: str, batch_size: int | None = None, dtype=np.float32
) -> list[Batch]:
    """Fixed batches of at most ``batch_size`` graphs (all graphs in one when None).

    Batches are fixed so that each keeps its own warm-start states across epochs.
    """
    size = len(graphs) if batch_size is None else max(1, batch_size)
    return [make_batch(graphs[k : k + size], level, dtype) for k in range(0, len(graphs), size)]
