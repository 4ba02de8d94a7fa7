"""Figure 1: a 3-layer GNN with unit weights on a linear graph, synchronous vs. hogwild.

The GNN of Figure 1(b): h_i^{ℓ+1} = h_i^ℓ + Σ_{j∈N(i)} h_j^ℓ (all weights 1, the next value
is the sum of the incoming ones), H^0 = the binary features, three layers, output H^3.
Run through the same simulator as every model (`hogwild.asynchrony.simulate`), each node
applies its own next layer to whatever layer its views hold — panel (c) — so the outputs
spread over schedules — panel (d).
"""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from ..asynchrony import Schedule, simulate
from ..graph import batch_graphs, graph_from_edges
from ..models import AbstractExplicitGNN

FEATURES = (1.0, 0.0, 1.0, 1.0, 0.0, 1.0)
"""Binary features of the linear graph of panel (a) (one value per node)."""


class _Identity(eqx.Module):
    def __call__(self, graph, h):
        del graph
        return h


class UnitSumGNN(AbstractExplicitGNN):
    """h_i ← h_i + Σ_{j∈N(i)} h_j for ``layers`` layers (Figure 1 b): unit weights, no bias."""

    readout: _Identity
    widths: tuple[int, ...] = eqx.field(static=True)
    hidden: int = eqx.field(static=True)

    def __init__(self, layers: int = 3):
        self.readout = _Identity()
        self.widths = (1,) * (layers + 1)
        self.hidden = 1

    def layer(self, index, graph, h, h_view, prepared=None):
        weights = graph.edge_weight[:, None] * h_view
        return h + jax.ops.segment_sum(weights, graph.receivers, num_segments=graph.num_nodes)


def figure1_graph(features=FEATURES, dtype=np.float64):
    """The undirected path of panel (a) with one binary feature per node, batched."""
    x = np.asarray(features, dtype)[:, None]
    pairs = [(i, i + 1) for i in range(len(x) - 1)]
    return batch_graphs([graph_from_edges(x, pairs)], dtype=dtype)


def figure1_data(runs: int = 200, stagger: int = 4, delay: int = 3, layers: int = 3) -> dict:
    """Synchronous outputs and the outputs of ``runs`` seeded asynchronous schedules."""
    graph = figure1_graph()
    model = UnitSumGNN(layers)
    n = len(FEATURES)
    sync = np.asarray(model.forward(graph))[:n, 0]
    outputs = []
    for seed in range(runs):
        trace = simulate(
            model, graph, Schedule(stagger, delay, seed), max_time=10 * layers * stagger
        )
        outputs.append(np.asarray(trace.states)[:n, 0])
    outputs = np.array(outputs)
    return {
        "features": list(FEATURES),
        "layers": layers,
        "stagger": stagger,
        "delay": delay,
        "runs": runs,
        "synchronous": sync.tolist(),
        "asynchronous": outputs.tolist(),
        "distinct_outputs": int(len({tuple(row) for row in outputs.tolist()})),
        "runs_equal_to_synchronous": int(np.sum(np.all(outputs == sync, axis=1))),
    }


def figure1_plot(data: dict, path) -> None:
    """Panel (a) the graph, panel (d) synchronous output vs. the spread over schedules."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(data["features"])
    outputs = np.asarray(data["asynchronous"])
    fig, (ax_graph, ax_out) = plt.subplots(
        1, 2, figsize=(9.5, 3.4), gridspec_kw={"width_ratios": [1, 1.6]}
    )
    ax_graph.plot(range(n), np.zeros(n), "-", color="grey", zorder=1)
    for i, x in enumerate(data["features"]):
        ax_graph.scatter(i, 0, s=700, color="white", edgecolor="black", zorder=2)
        ax_graph.text(i, 0, f"{x:g}", ha="center", va="center", fontsize=12)
    ax_graph.set(title="(a) linear graph, binary features", xlim=(-0.7, n - 0.3), ylim=(-1, 1))
    ax_graph.axis("off")
    rng = np.random.default_rng(0)
    for i in range(n):
        jitter = i + 0.25 * (rng.random(len(outputs)) - 0.5)
        ax_out.scatter(jitter, outputs[:, i], s=8, alpha=0.35, color="tab:red")
    ax_out.scatter(range(n), data["synchronous"], marker="_", s=900, color="black", zorder=3)
    ax_out.set_xticks(range(n), [f"node {i}" for i in range(n)])
    ax_out.set_ylabel("output h_i after 3 layers")
    ax_out.set_title(
        f"(d) synchronous (black) vs {data['runs']} asynchronous runs (red), "
        f"S={data['stagger']}, D={data['delay']}",
        fontsize=9,
    )
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
