"""The PPI task (GraphSAGE's protein-protein interaction graphs): 121 binary labels per node.

Each graph is one human tissue; a node is a protein with 50 features (positional gene
sets, motif gene sets, immunological signatures), an edge an interaction, and the 121
labels are the protein's gene-ontology functions, several of which may hold at once: a
node-level ``multilabel`` task (one logit per label, mean sigmoid BCE, scored by micro-F1;
see `hogwild.train._objective`). The split is the files' fixed inductive one: 20 training
graphs, 2 validation graphs, 2 test graphs (unseen tissues), of 591 to 3480 nodes (see
`hogwild.data.ppi` for where the files come from and how they are checked).

``max_train_graphs`` keeps only the first that many training graphs (ascending graph id)
for quick runs; validation and test always use their full splits, so numbers stay
comparable.

Batches: ``TrainConfig.batch_size`` counts graphs, and its default (None) puts all 20
training graphs in one batch: 44,906 real nodes padded to 49,152 (8.6 % padding) and
about 1.25 M directed edges. That fits in memory: one epoch on a synthetic PPI of the real
sizes (28 directed edges per node) peaked at 1.0 GB RSS with gcn, 1.0 GB ignn, 2.6 GB gat,
4.0 GB energy-edge and 6.7 GB energy-attention (float32 with the float64 energy solves;
``--x64`` roughly doubles it). ``--set batch_size=5`` (4 batches, 2 padded shapes) cut
energy-edge to 2.3 GB; ``batch_size=1`` pads each graph alone (7.9 % of nodes) but
compiles one program per padded shape (10 for the training graphs).
"""

from __future__ import annotations

import dataclasses

from ._base import Dataset
from ._checks import check_int

NUM_LABELS = 121


@dataclasses.dataclass(frozen=True)
class PpiConfig:
    """PPI options: ``max_train_graphs`` (None: all 20) subsamples the training split."""

    max_train_graphs: int | None = None

    def __post_init__(self):
        if self.max_train_graphs is not None:
            check_int("max_train_graphs", self.max_train_graphs, 1)


def make_ppi(config: PpiConfig = PpiConfig()) -> Dataset:
    """The PPI dataset: train / validation / test are the files' ``train`` / ``valid`` /
    ``test`` splits (read with `hogwild.data.load_ppi`: ``$HOGWILD_DATA/PPI/`` or the
    download cache), node features float32 (n, 50), targets float32 (n, 121) of 0 / 1."""
    from ..data import load_ppi

    train = load_ppi("train")
    if config.max_train_graphs is not None:
        train = train[: config.max_train_graphs]
    return Dataset(
        name="ppi",
        train=train,
        validation=load_ppi("valid"),
        test=load_ppi("test"),
        kind="multilabel",
        level="node",
        out_size=NUM_LABELS,
    )
