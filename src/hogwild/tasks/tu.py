"""Graph classification on the TU benchmarks of Appendix G: MUTAG and PROTEINS.

Each graph is one sample with a class label (``multiclass`` with C = 2 logits, graph
level): the model's node outputs o_φ(h_i) ∈ R^4 are averaged per graph and passed through
a graph readout MLP (4, 4, C) (Appendix G.2). The split is fold ``fold`` of a stratified
10-fold cross-validation (`hogwild.tasks._folds`): the test fold is never used for model
selection; ``validation_fraction`` of the training fold is held out for it.

``selection="test-fold"`` is Gu et al.'s (2020) protocol instead, kept as a diagnostic of
how much it inflates accuracy: the whole training fold trains, and the test fold itself
is the "validation" split that early stopping and the best epoch are chosen on (their
reference code reports the best test accuracy over epochs). Never a result.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._base import Dataset
from ._checks import check_int
from ._folds import cv_split

#: Which split selects the model: a part of the training fold, or (diagnostic) the test fold.
SELECTIONS = ("validation", "test-fold")


@dataclasses.dataclass(frozen=True)
class TUTaskConfig:
    """Which cross-validation split of a TU dataset.

    Attributes:
        fold: the test fold, 0..folds-1.
        folds: k of the k-fold cross-validation (the paper: 10).
        validation_fraction: share of the training fold held out for model selection.
        seed: shuffles the graphs into folds (the same seed gives the same k folds).
        selection: "validation" (honest: a held-out part of the training fold selects
            the model) or "test-fold" (Gu et al.'s protocol, a diagnostic: the test fold
            selects it and the whole training fold trains).
    """

    fold: int = 0
    folds: int = 10
    validation_fraction: float = 0.1
    seed: int = 0
    selection: str = "validation"

    def __post_init__(self):
        check_int("folds", self.folds, 2)
        check_int("fold", self.fold, 0)
        check_int("seed", self.seed, 0)
        if self.fold >= self.folds:
            raise ValueError(f"`fold` must be < folds = {self.folds}; got {self.fold}.")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"`validation_fraction` must be in (0, 1); got {self.validation_fraction}."
            )
        if self.selection not in SELECTIONS:
            raise ValueError(
                f"`selection` must be one of {', '.join(SELECTIONS)}; got {self.selection!r}."
            )


@dataclasses.dataclass(frozen=True)
class MutagConfig(TUTaskConfig):
    """MUTAG (188 molecules, mutagenic or not); ``edge_labels`` adds the bond type
    (one-hot R^4) as edge features (the paper uses none)."""

    edge_labels: bool = False


@dataclasses.dataclass(frozen=True)
class ProteinsConfig(TUTaskConfig):
    """PROTEINS (1,113 proteins, enzyme or not); ``node_attributes`` appends the raw node
    attribute (range [-538, 798]) to the one-hot labels (the paper uses the labels only)."""

    node_attributes: bool = False


def _tu_task(task: str, dataset, config: TUTaskConfig) -> Dataset:
    train, validation, test = cv_split(
        dataset.labels, config.fold, config.folds, config.validation_fraction, config.seed
    )
    if config.selection == "test-fold":  # Gu et al.: train on all of it, select on the test
        train, validation = np.union1d(train, validation), test
    pick = lambda idx: [dataset.graphs[i] for i in idx]  # noqa: E731
    return Dataset(
        name=task,
        train=pick(train),
        validation=pick(validation),
        test=pick(test),
        kind="multiclass",
        level="graph",
        out_size=dataset.num_classes,
    )


def make_mutag(config: MutagConfig = MutagConfig()) -> Dataset:
    """Fold ``config.fold`` of MUTAG (needs the TU files: see `hogwild.data.tu`)."""
    from ..data import load_tu

    return _tu_task("mutag", load_tu("MUTAG", edge_labels=config.edge_labels), config)


def make_proteins(config: ProteinsConfig = ProteinsConfig()) -> Dataset:
    """Fold ``config.fold`` of PROTEINS (needs the TU files: see `hogwild.data.tu`)."""
    from ..data import load_tu

    dataset = load_tu("PROTEINS", node_attributes=config.node_attributes)
    return _tu_task("proteins", dataset, config)
