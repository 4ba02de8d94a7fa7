"""The counting task (Section 6.1): every node of an undirected chain predicts its length.

Graphs are paths of n ∈ [min_length, max_length] nodes (n drawn uniformly, seeded). Chains
carry no informative features, so a node's features are the one-hot embedding of its
degree (0, 1 or 2: size 3; a 1-node chain is a single isolated node of degree 0). The
target of every node is n, as a float (regression, one output per node).

Interpretation: the paper's "50 graphs with 1-50 nodes" is read as 50 lengths drawn
uniformly from 1..50 (so lengths may repeat), not as one chain of each length.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..graph import GraphData, graph_from_edges
from ._base import Dataset, split_dataset
from ._checks import check_int, check_split

MAX_DEGREE = 2


@dataclasses.dataclass(frozen=True)
class CountingConfig:
    """Size of the counting dataset (defaults: the paper's 50 chains of 1-50 nodes)."""

    num_graphs: int = 50
    min_length: int = 1
    max_length: int = 50
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0

    def __post_init__(self):
        check_split(self)
        check_int("min_length", self.min_length, 1)
        check_int("max_length", self.max_length, 1)
        if self.max_length < self.min_length:
            raise ValueError(
                f"`max_length` must be >= min_length = {self.min_length}; got {self.max_length}."
            )


def degree_one_hot(degrees: np.ndarray, size: int = MAX_DEGREE + 1) -> np.ndarray:
    """Rows of the identity: node k gets e_{degree[k]} (float32, shape (n, size))."""
    return np.eye(size, dtype=np.float32)[degrees]


def make_counting_chain(length: int) -> GraphData:
    """Path 0 - 1 - ... - (length-1) with one-hot degrees and target ``length`` everywhere."""
    degrees = np.full(length, 2)
    degrees[[0, -1]] = 1
    if length == 1:
        degrees[0] = 0
    pairs = np.stack([np.arange(length - 1), np.arange(1, length)], axis=1)
    targets = np.full((length, 1), float(length), np.float32)
    return graph_from_edges(
        degree_one_hot(degrees), pairs, node_targets=targets, allow_no_edges=True
    )


def make_counting(config: CountingConfig = CountingConfig()) -> Dataset:
    """Seeded chains of random lengths, split 60/20/20 (by default) by graph."""
    rng = np.random.default_rng([config.seed, 1])  # split_indices uses plain `seed`
    lengths = rng.integers(config.min_length, config.max_length + 1, size=config.num_graphs)
    graphs = [make_counting_chain(int(n)) for n in lengths]
    return split_dataset(
        "counting",
        graphs,
        config.fractions,
        config.seed,
        kind="regression",
        level="node",
        out_size=1,
    )
