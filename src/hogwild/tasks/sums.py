"""The sums task (Section 6.1): every node of an undirected chain predicts Σ_i x_i.

Each graph is a path of ``length`` nodes with binary features x_i ~ Bernoulli(1/2) (shape
(n, 1)); the target of every node is the sum of the features over its graph (regression,
one output per node). The features of all graphs are drawn in one vectorised call.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..graph import graph_from_edges
from ._base import Dataset, split_dataset
from ._checks import check_int, check_split


@dataclasses.dataclass(frozen=True)
class SumsConfig:
    """Size of the sums dataset (defaults: the paper's 2000 chains of 50 nodes)."""

    num_graphs: int = 2000
    length: int = 50
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0

    def __post_init__(self):
        check_split(self)
        check_int("length", self.length, 2)


def make_sums(config: SumsConfig = SumsConfig()) -> Dataset:
    """Seeded chains with random binary features, split 60/20/20 (by default) by graph."""
    rng = np.random.default_rng([config.seed, 2])  # split_indices uses plain `seed`
    bits = rng.integers(0, 2, size=(config.num_graphs, config.length)).astype(np.float32)
    totals = bits.sum(axis=1)
    n = config.length
    pairs = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
    graphs = [
        graph_from_edges(x[:, None].copy(), pairs, node_targets=np.full((n, 1), total, np.float32))
        for x, total in zip(bits, totals)
    ]
    return split_dataset(
        "sums", graphs, config.fractions, config.seed, kind="regression", level="node", out_size=1
    )
