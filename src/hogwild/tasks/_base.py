"""What a task is: seeded splits of graphs with targets, and how predictions are scored."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from ..graph import GraphData

Kind = Literal["binary", "multiclass", "multilabel", "regression", "distance"]
Level = Literal["node", "graph"]


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train / validation / test graphs of one task, with what the model must output.

    Attributes:
        kind: ``binary`` (one logit, BCE), ``multiclass`` (``out_size`` logits, cross-entropy),
            ``multilabel`` (``out_size`` independent 0/1 labels, one logit each, mean BCE;
            scored by micro-F1), ``regression`` (``out_size`` values, MSE) or ``distance``
            (``out_size``-dim points scored by their pairwise distances within each graph,
            no global frame).
        level: ``node`` (targets on every node) or ``graph`` (one target per graph).
        out_size: J, the size of the model's output per node (or per graph).
    """

    name: str
    train: list[GraphData]
    validation: list[GraphData]
    test: list[GraphData]
    kind: Kind
    level: Level
    out_size: int

    @property
    def in_size(self) -> int:
        return int(self.train[0].nodes.shape[1])

    @property
    def edge_size(self) -> int:
        return int(self.train[0].edges.shape[1])

    def splits(self) -> dict[str, list[GraphData]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def split_indices(num: int, fractions: tuple[float, float, float], seed: int):
    """Shuffle 0..num-1 with ``seed`` and cut it into train / validation / test parts."""
    if num < 3:
        raise ValueError(f"need at least 3 graphs to split into train/validation/test; got {num}.")
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(
            f"split fractions must be 3 positive numbers summing to 1; got {fractions}."
        )
    order = np.random.default_rng(seed).permutation(num)
    n_train = max(1, int(round(fractions[0] * num)))
    n_val = max(1, int(round(fractions[1] * num)))
    n_train = min(n_train, num - n_val - 1)
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def split_dataset(name: str, graphs: list[GraphData], fractions, seed: int, **task) -> Dataset:
    """``graphs`` split by graph with `split_indices` into a `Dataset` (``task``: kind,
    level, out_size)."""
    tr, va, te = split_indices(len(graphs), fractions, seed)
    pick = lambda idx: [graphs[i] for i in idx]  # noqa: E731
    return Dataset(name=name, train=pick(tr), validation=pick(va), test=pick(te), **task)
