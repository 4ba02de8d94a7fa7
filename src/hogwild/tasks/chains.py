"""The chains task (Section 6.1; Gu et al., 2020): long-range propagation along a path.

Each graph is an undirected path of ``length`` nodes with a class k ∈ {0..p-1}; the node
features X ∈ R^{l×p} are zero except X[0, k] = 1, and every node must predict k. A node at
distance d from the head needs information from d hops away.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..graph import GraphData, graph_from_edges
from ._base import Dataset, split_indices


@dataclasses.dataclass(frozen=True)
class ChainsConfig:
    """Size of the chains dataset; classes are balanced (graph g has class g mod p) and every
    split holds every class. All chains of one class are identical, so a few graphs per
    class carry all the information; the default is 6 per class."""

    num_graphs: int = 12
    length: int = 100
    num_classes: int = 2
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0

    def __post_init__(self):
        if self.length < 2:
            raise ValueError(f"`length` must be >= 2; got {self.length}.")
        if self.num_classes < 2:
            raise ValueError(f"`num_classes` must be >= 2; got {self.num_classes}.")
        if self.num_graphs < 3 * self.num_classes:
            raise ValueError(
                f"`num_graphs` must be >= 3 * num_classes = {3 * self.num_classes} "
                f"(every split holds every class); got {self.num_graphs}."
            )


def make_chain(length: int, label: int, num_classes: int) -> GraphData:
    """One path 0 - 1 - ... - (length-1) whose head carries the one-hot class."""
    x = np.zeros((length, num_classes), np.float32)
    x[0, label] = 1.0
    y = np.full((length, 1), float(label), np.float32)
    return graph_from_edges(x, [(i, i + 1) for i in range(length - 1)], node_targets=y)


def make_chains(config: ChainsConfig = ChainsConfig()) -> Dataset:
    """Seeded train / validation / test chains (split by graph, stratified by class)."""
    p = config.num_classes
    graphs = [make_chain(config.length, g % p, p) for g in range(config.num_graphs)]
    parts = [[], [], []]
    for label in range(p):
        members = np.arange(label, config.num_graphs, p)
        for part, idx in zip(
            parts, split_indices(len(members), config.fractions, config.seed + label)
        ):
            part.extend(members[idx].tolist())
    tr, va, te = (np.random.default_rng(config.seed).permutation(part) for part in parts)
    binary = config.num_classes == 2
    return Dataset(
        name="chains",
        train=[graphs[i] for i in tr],
        validation=[graphs[i] for i in va],
        test=[graphs[i] for i in te],
        kind="binary" if binary else "multiclass",
        level="node",
        out_size=1 if binary else config.num_classes,
    )
