"""Table 3: graph classification accuracy on MUTAG and PROTEINS, honest 10-fold CV.

A cell is one (dataset, model) with folds × seeds runs, trained and recorded exactly like
Table 1 (`hogwild.experiments._table1.run_cell`: resumable, one JSON line per run): fold f
is the task option ``fold`` = f of a stratified 10-fold cross-validation; each run keeps its
best parameters on a validation split carved from its training fold, and is scored once on
its test fold. Rows hold the test *error* in %; the table shows accuracy = 100 − error.

The paper's own rows (Table 3) are 10 folds × 5 seeds. Its asterisked rows come from
Gu et al. (2020), whose reference code reports, per fold, the best test accuracy over
training epochs: model selection on the test fold, which inflates them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ._table1 import Protocol, cells_figure, cells_markdown, strongest

#: Table 3 of the paper: accuracy in %, mean ± std (10 folds × 5 seeds). "Energy GNN" is
#: the edge-wise energy GNN, the paper's main model.
PAPER = {
    "energy-edge": {"mutag": (87.6, 3.4), "proteins": (72.5, 0.3)},
    "energy-attention": {"mutag": (79.5, 1.8), "proteins": (72.5, 0.5)},
    "energy-node": {},
    "ignn": {"mutag": (73.0, 0.6), "proteins": (71.8, 1.3)},
    "gsd": {"mutag": (78.4, 2.2), "proteins": (72.8, 0.8)},
    "gcn": {"mutag": (78.0, 1.4), "proteins": (73.7, 0.5)},
    "gat": {"mutag": (76.1, 1.5), "proteins": (71.7, 3.2)},
}
#: Rows the paper quotes from Gu et al. (2020), selected on the test folds.
TEST_SELECTED = {
    "GCN (5 layers), Gu et al.": {"mutag": (85.6, 5.8), "proteins": (76.0, 3.2)},
    "IGNN (3 layers), Gu et al.": {"mutag": (89.3, 6.7), "proteins": (77.7, 3.4)},
}
TASK_ORDER = ("mutag", "proteins")

PROTOCOLS = {
    # Paper: Appendix F's optimiser (lr 0.002, decay 0.98 every 200 epochs, up to 5000
    # epochs), early stopping after 300 without a better validation loss; MUTAG's energy
    # models solve by Newton as in `reduced`.
    "paper": Protocol(
        "paper",
        10,
        5,
        5000,
        300,
        {},
        train_options={"mutag": {"energy_solver": "newton"}},
        fold_option="fold",
    ),
    # Reduced: the paper's 10 folds, 2 parameter seeds, 600 epochs with early stopping
    # after 300, at lr 0.01. Pilots on MUTAG fold 0: at the paper's lr 0.002 neither GCN nor
    # the edge-wise energy GNN had left the constant predictor after 100 epochs; at 0.01
    # the energy GNN reached validation error 5.9 % at epoch 367 of 400. A first version
    # stopped after 150 epochs without improvement: 3 of 7 energy-GNN runs never left the
    # constant predictor (best epoch 11), hence 300 (the earlier rows are kept under the
    # protocol name "reduced-p150"). Those pilots started from zero logits; rows from
    # before the class-prior start are kept as "reduced-zero-logits". From the prior, lr
    # 0.002 leaves the constant predictor too (fold 0, seed 0: GCN train error 21.7 % at
    # epoch 100; energy GNN validation loss 0.65 -> 0.38 in 300 epochs, 40 solve steps
    # per epoch against ~250 at 0.01), so the choice of 0.01 is open again.
    # MUTAG's energy models solve by Newton with per-graph Hessians (same minimiser and
    # tolerance, 4.1x faster per epoch: bench/newton.py) from energy-attention fold 3, seed 1;
    # the rows before it (every energy-edge run) used L-BFGS. PROTEINS (graphs of up to
    # 620 nodes) keeps L-BFGS.
    "reduced": Protocol(
        "reduced",
        folds=10,
        seeds=2,
        epochs=600,
        patience=300,
        task_options={},
        train_options={
            "mutag": {"learning_rate": 0.01, "energy_solver": "newton"},
            "proteins": {"learning_rate": 0.01},
        },
        fold_option="fold",
    ),
}
#: Reduced, with MUTAG's bond types (one-hot R^4, ``edge_labels``) as edge features, for
#: the energy GNNs that read edge features. Not the paper's input (it uses node labels
#: only), so its rows are a variant: never a cell's strongest protocol, listed apart.
PROTOCOLS["reduced-bonds"] = dataclasses.replace(
    PROTOCOLS["reduced"],
    name="reduced-bonds",
    task_options={"mutag": {"edge_labels": True}},
    cells=("mutag:energy-edge", "mutag:energy-attention"),
)

#: Gu et al.'s (2020) protocol, a diagnostic of how much selecting on the test fold inflates
#: accuracy (never a cell's row): ``reduced``'s runs, but the whole training fold trains and
#: the test fold is the "validation" split that picks the epoch (`hogwild.tasks.tu`).
TEST_SELECTED_PROTOCOL = "test-selected"
PROTOCOLS[TEST_SELECTED_PROTOCOL] = dataclasses.replace(
    PROTOCOLS["reduced"],
    name=TEST_SELECTED_PROTOCOL,
    task_options={task: {"selection": "test-fold"} for task in TASK_ORDER},
    cells=tuple(f"mutag:{model}" for model in PAPER),
)


def honest(rows: list[dict]) -> list[dict]:
    """``rows`` without the test-selected diagnostic's."""
    return [r for r in rows if r["protocol"] != TEST_SELECTED_PROTOCOL]


def accuracy(row: dict) -> float:
    """Test accuracy in % of a run's row (rows store the error)."""
    return 100.0 - row["test"]


def seed_spread(rows: list[dict]) -> str:
    """Per cell with every fold of at least two seeds: the std over seeds of the k-fold
    mean accuracy (the spread of a whole cross-validation, which the paper's small stds
    suggest it reports), beside the std over all runs of the table."""
    lines = []
    for task in TASK_ORDER:
        for model in PAPER:
            cell = [r for r in rows if r["task"] == task and r["model"] == model]
            folds = {r["fold"] for r in cell}
            seeds = [s for s in sorted({r["seed"] for r in cell})
                     if {r["fold"] for r in cell if r["seed"] == s} == folds]  # fmt: skip
            means = [np.mean([accuracy(r) for r in cell if r["seed"] == s]) for s in seeds]
            if len(seeds) >= 2:
                lines.append(
                    f"- {task} {model}: {np.mean(means):.1f} ± {np.std(means):.1f} over "
                    f"{len(seeds)} seeds"
                )
    return "\n".join(lines)


def table3_markdown(rows: list[dict]) -> str:
    """Models × datasets: our test accuracy mean ± std (runs, protocol), the paper's
    beneath; the std over seeds of the cross-validated mean; then the test-selected rows
    the paper quotes, labelled as such, beside our models under their protocol."""
    rows, diagnostic = honest(rows), test_selected_markdown(rows)
    table = cells_markdown(rows, PAPER, TASK_ORDER, value=accuracy)
    table += (
        "\nStd over parameter seeds of the 10-fold mean accuracy (the table's std is over "
        "every fold × seed run):\n" + seed_spread(strongest(rows)) + "\n"
    )
    table += variants_markdown(rows)
    quoted = "\n".join(
        f"- {name}: " + ", ".join(f"{task} {m} ± {s}" for task, (m, s) in values.items())
        for name, values in TEST_SELECTED.items()
    )
    return (
        table + "\nQuoted by the paper from Gu et al. (2020), model selection on the test folds "
        "(not comparable with the rows above):\n" + quoted + "\n" + diagnostic
    )


def test_selected_markdown(rows: list[dict]) -> str:
    """Per cell with ``test-selected`` rows: the best test accuracy over epochs (what Gu et
    al.'s code reports), the test accuracy at the epoch of least test loss, and the same
    cell's honest ``reduced`` accuracy, each mean ± std over its runs ("" without rows)."""
    lines = []
    for task in TASK_ORDER:
        for model in PAPER:
            cell = [r for r in rows if (r["task"], r["model"]) == (task, model)]
            fair, at_loss, best = selection_values(cell)
            if not at_loss:
                continue
            parts = [
                ("best test accuracy over epochs", best),
                ("at the least test loss", at_loss),
                ("honest (reduced)", fair),
            ]
            lines.append(
                f"- {task} {model}: "
                + "; ".join(f"{name} {_mean_std(v)} ({len(v)})" for name, v in parts if v)
            )
    if not lines:
        return ""
    return (
        "\nOur models under Gu et al.'s protocol (`test-selected`: the whole training fold "
        "trains, the test fold picks the epoch; a diagnostic of the selection's inflation, "
        "never a result):\n" + "\n".join(lines) + "\n"
    )


def selection_values(cell: list[dict]) -> tuple[list, list, list]:
    """Accuracies in % of one cell's rows: honest (``reduced``), test-selected at the
    epoch of least test loss, and test-selected best over epochs (``validation_best``)."""
    chosen = [r for r in cell if r["protocol"] == TEST_SELECTED_PROTOCOL]
    return (
        [accuracy(r) for r in cell if r["protocol"] == "reduced"],
        [accuracy(r) for r in chosen],
        [100.0 - r["validation_best"] for r in chosen if "validation_best" in r],
    )


def _mean_std(values) -> str:
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


def variants_markdown(rows: list[dict]) -> str:
    """One line per cell of a variant protocol (``cells`` set) that has rows: its accuracy
    beside the same cell under ``reduced`` ("" when no variant has rows)."""
    lines = []
    for protocol in PROTOCOLS.values():
        if protocol.name == TEST_SELECTED_PROTOCOL:
            continue  # not a variant of the inputs: `test_selected_markdown`
        for cell in protocol.cells or ():
            task, model = cell.split(":")
            found = {
                name: [accuracy(r) for r in rows
                       if (r["protocol"], r["task"], r["model"]) == (name, task, model)]
                for name in (protocol.name, "reduced")
            }  # fmt: skip
            if found[protocol.name]:
                lines.append(
                    f"- {task} {model}, {protocol.name}: "
                    + "; ".join(
                        f"{name} {np.mean(v):.1f} ± {np.std(v):.1f} ({len(v)} runs)"
                        for name, v in found.items()
                        if v
                    )
                )
    if not lines:
        return ""
    return (
        "\nVariants (not the paper's inputs; never a cell's row above):\n" + "\n".join(lines) + "\n"
    )


def table3_figure(rows: list[dict], path) -> None:
    """One panel per dataset: our accuracy per model beside the paper's; with test-selected
    rows, also ``table3_selection.png`` beside it (`selection_figure`)."""
    cells_figure(honest(rows), path, PAPER, TASK_ORDER, "test accuracy (%)", value=accuracy)
    if any(r["protocol"] == TEST_SELECTED_PROTOCOL for r in rows):
        selection_figure(rows, Path(path).with_name("table3_selection.png"))


def _selection_bars(cell: list[dict], task: str, model: str) -> list[tuple | None]:
    """The four (mean, std) bars of one model in `selection_figure` (None: no value)."""
    bars = [(np.mean(v), np.std(v)) if v else None for v in selection_values(cell)]
    return [*bars, PAPER[model].get(task)]


def selection_figure(rows: list[dict], path) -> None:
    """MUTAG per model with test-selected rows: honest accuracy (``reduced``), then under
    Gu et al.'s test-fold selection at the least test loss and best over epochs, beside
    the paper's row: mean ± std over runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    task = "mutag"
    cells = {m: [r for r in rows if (r["task"], r["model"]) == (task, m)] for m in PAPER}
    models = [
        m for m, c in cells.items() if any(r["protocol"] == TEST_SELECTED_PROTOCOL for r in c)
    ]
    labels = ("honest (reduced)", "test fold: least loss", "test fold: best epoch", "paper")
    fig, ax = plt.subplots(figsize=(1.1 * len(models) + 3.5, 3.8))
    for k, model in enumerate(models):
        for j, bar in enumerate(_selection_bars(cells[model], task, model)):
            if bar is not None:
                x, (mean, std) = k + 0.2 * (j - 1.5), bar
                ax.bar(x, mean, 0.2, yerr=std, color=f"C{j}", capsize=2)
    runs = [sum(r["protocol"] == TEST_SELECTED_PROTOCOL for r in cells[m]) for m in models]
    labels_x = [f"{m}\n{n} test-selected runs" for m, n in zip(models, runs)]
    ax.set_xticks(range(len(models)), labels_x, rotation=30, fontsize=7)
    ax.set_ylabel(f"{task} test accuracy (%)")
    ax.set_ylim(50, 100)
    handles = [Patch(color=f"C{j}", label=label) for j, label in enumerate(labels)]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("MUTAG: selecting on the test fold (Gu et al.) vs honestly", fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
