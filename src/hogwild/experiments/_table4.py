"""Table 4: multi-label node classification on PPI (121 labels), micro-F1.

The split is fixed (20 / 2 / 2 graphs, Hamilton et al. 2017), so a cell is one (task,
model) with ``seeds`` parameter seeds and a single "fold" (no task option). Runs are
trained and recorded like Table 1's (`run_cell`: resumable, one JSON line each); the model
is selected on the 2 validation graphs and scored once on the 2 test graphs. Rows hold
the test F1 error 1 − micro-F1 in %; the table shows micro-F1 = 100 − error.

The paper's rows have no spread (one value each). Its asterisked rows come from
Gu et al. (2020), with layer counts the paper could not always determine.
"""

from __future__ import annotations

from ._table1 import Protocol, cells_figure, cells_markdown

#: Table 4 of the paper: micro-F1 in %, no spread given.
PAPER = {
    "energy-edge": {"ppi": (76.2, None)},
    "energy-attention": {"ppi": (76.0, None)},
    "energy-node": {},
    "ignn": {"ppi": (75.5, None)},
    "gsd": {"ppi": (76.0, None)},
    "gcn": {"ppi": (76.2, None)},
    "gat": {"ppi": (74.3, None)},
}
#: Rows the paper quotes from Gu et al. (2020).
QUOTED = {
    "MLP": 46.2,
    "GCN": 59.2,
    "GraphSAGE": 78.6,
    "GAT (3 layers)": 97.3,
    "IGNN (5 layers)": 97.6,
}
TASK_ORDER = ("ppi",)

PROTOCOLS = {
    "paper": Protocol("paper", 1, 5, 5000, 300, {}, fold_option=None),
    # Reduced: 2 seeds, 500 epochs, early stopping after 150, lr 0.01 as for Table 3
    # (not yet piloted on PPI: no copy of the dataset could be downloaded here).
    "reduced": Protocol(
        "reduced",
        folds=1,
        seeds=2,
        epochs=500,
        patience=150,
        task_options={},
        train_options={"ppi": {"learning_rate": 0.01}},
        fold_option=None,
    ),
}


def micro_f1(row: dict) -> float:
    """Test micro-F1 in % of a run's row (rows store the F1 error)."""
    return 100.0 - row["test"]


def table4_markdown(rows: list[dict]) -> str:
    """Models × PPI: our test micro-F1 mean ± std (runs, protocol), the paper's beneath;
    then the rows the paper quotes from Gu et al. (2020)."""
    table = cells_markdown(rows, PAPER, TASK_ORDER, value=micro_f1)
    quoted = ", ".join(f"{name} {value}" for name, value in QUOTED.items())
    return table + f"\nQuoted by the paper from Gu et al. (2020): {quoted}.\n"


def table4_figure(rows: list[dict], path) -> None:
    """Our micro-F1 per model beside the paper's."""
    cells_figure(rows, path, PAPER, TASK_ORDER, "test micro-F1 (%)", value=micro_f1)
