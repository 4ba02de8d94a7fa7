"""Table 3 (MUTAG / PROTEINS, 10-fold CV): the resumable runner on a tiny protocol, the
table's accuracy and the paper's values, and MUTAG through the command line."""

from __future__ import annotations

import json
import os

import pytest
from _support import missing_data, shared_data_root

from hogwild import make_model
from hogwild.cli import main
from hogwild.experiments._table1 import Protocol, cell_run, load_rows, run_cell
from hogwild.experiments._table3 import PROTOCOLS, table3_figure, table3_markdown
from hogwild.tasks import make_task

TINY = Protocol("tiny", folds=1, seeds=1, epochs=2, patience=2, task_options={}, fold_option="fold")


@pytest.fixture(scope="module", autouse=True)
def tu_data():
    root = shared_data_root()
    if not (root / "TU" / "MUTAG" / "MUTAG_A.txt").is_file():
        missing_data(f"TU files not found in {root / 'TU'} (set HOGWILD_DATA)")
    old = os.environ.get("HOGWILD_DATA")
    os.environ["HOGWILD_DATA"] = str(root)
    yield root
    if old is None:
        del os.environ["HOGWILD_DATA"]
    else:
        os.environ["HOGWILD_DATA"] = old


def test_cell_runs_each_test_fold_then_resumes(tmp_path):
    jsonl = tmp_path / "table3.jsonl"
    rows = run_cell("mutag", "gcn", TINY, tmp_path / "runs", jsonl)
    assert [(r["fold"], r["seed"]) for r in rows] == [(0, 0)]
    config = json.loads((tmp_path / "runs/tiny/mutag/gcn/fold0-seed0/config.json").read_text())
    assert config["task_options"] == {"fold": 0}  # the fold is the test fold, not a seed
    history = (tmp_path / "runs/tiny/mutag/gcn/fold0-seed0/history.jsonl").read_text()
    errors = [json.loads(line)["validation_error"] for line in history.splitlines()]
    assert rows[0]["validation_best"] == 100 * min(errors)  # the best over every epoch
    assert run_cell("mutag", "gcn", TINY, tmp_path / "runs", jsonl) == []
    table = table3_markdown(load_rows(jsonl))
    mean = 100 - rows[0]["test"]
    assert f"{mean:.1f} ± " in table and "paper 78.0 ± 1.4" in table  # accuracy, not error
    assert "Gu et al." in table and "test folds" in table


def test_protocols_use_every_fold():
    assert PROTOCOLS["paper"].folds == PROTOCOLS["reduced"].folds == 10
    assert PROTOCOLS["paper"].seeds == 5 and PROTOCOLS["reduced"].seeds >= 2
    assert PROTOCOLS["reduced"].fold_option == "fold"


def test_bonds_variant_feeds_bond_types_to_the_models_that_read_them():
    """The variant differs from `reduced` only by MUTAG's bond types as edge features, and
    its rows never stand for the paper's cell: they are listed apart."""
    bonds = PROTOCOLS["reduced-bonds"]
    config, out = cell_run("mutag", "energy-edge", bonds, 3, 1, "runs")
    assert config.task_options == {"edge_labels": True, "fold": 3}
    assert str(out) == "runs/reduced-bonds/mutag/energy-edge/fold3-seed1"
    assert config.train == PROTOCOLS["reduced"].train_config("mutag", 1)
    data = make_task("mutag", config.task_config())
    model = make_model("energy-edge", data.in_size, data.edge_size, data.out_size, graph_level=True)
    assert data.edge_size == 4 and model.edge_size == 4  # one-hot bond type, read
    row = {
        "task": "mutag",
        "model": "energy-edge",
        "fold": 0,
        "seed": 0,
        "test": 10.0,
        "seconds": 1,
    }
    rows = [{**row, "protocol": "reduced", "test": 20.0}, {**row, "protocol": bonds.name}]
    table = table3_markdown(rows)
    assert "80.0 ± 0.0 (1, reduced)" in table  # the cell's row is the reduced one
    assert "mutag energy-edge, reduced-bonds: reduced-bonds 90.0 ± 0.0 (1 runs); " in table


def test_test_selected_diagnostic_selects_on_the_test_fold_and_is_never_a_row(tmp_path):
    """Gu et al.'s protocol: the whole training fold trains and the test fold is the split
    that picks the epoch; its rows are listed apart with their best test accuracy over
    epochs, beside the honest cell, and never stand for the cell."""
    protocol = PROTOCOLS["test-selected"]
    config, _ = cell_run("mutag", "gcn", protocol, 3, 0, "runs")
    assert config.task_options == {"selection": "test-fold", "fold": 3}
    assert config.train == PROTOCOLS["reduced"].train_config("mutag", 0)
    gu = make_task("mutag", config.task_config())
    fair = make_task(
        "mutag", cell_run("mutag", "gcn", PROTOCOLS["reduced"], 3, 0, "r")[0].task_config()
    )
    ids = lambda graphs: sorted(id(g) for g in graphs)  # noqa: E731
    assert ids(gu.validation) == ids(gu.test) == ids(fair.test)
    assert ids(gu.train) == ids(fair.train + fair.validation)
    row = {"task": "mutag", "model": "gcn", "fold": 0, "seed": 0, "seconds": 1}
    rows = [
        {**row, "protocol": "reduced", "test": 20.0},
        {**row, "protocol": "test-selected", "test": 10.0, "validation_best": 5.0},
    ]
    table = table3_markdown(rows)
    main_table, diagnostic = table.split("Gu et al.'s protocol")
    assert "80.0 ± 0.0 (1, reduced)" in main_table and "test-selected" not in main_table
    assert "90.0" not in main_table and "95.0" not in main_table
    assert (
        "mutag gcn: best test accuracy over epochs 95.0 ± 0.0 (1); at the least test loss "
        "90.0 ± 0.0 (1); honest (reduced) 80.0 ± 0.0 (1)" in diagnostic
    )
    table3_figure(rows, tmp_path / "table3.png")  # and its own figure beside the table's
    assert (tmp_path / "table3_selection.png").stat().st_size > 0
    table3_figure(rows[:1], tmp_path / "honest" / "table3.png")
    assert not (tmp_path / "honest" / "table3_selection.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["table3", "--protocol", "huge"],
            "unknown protocol 'huge' for table3; valid: paper, reduced, reduced-bonds",
        ),
        (
            ["table3", "--protocol", "reduced-bonds", "--cell", "proteins:gcn"],
            "the reduced-bonds protocol is defined for mutag:energy-edge, "
            "mutag:energy-attention only; got --cell proteins:gcn",
        ),
        (
            ["table3", "--cell", "chains:gcn"],
            "--cell expects TASK:MODEL with TASK in mutag, proteins",
        ),
        (
            ["table3", "--protocol", "test-selected", "--cell", "proteins:gcn"],
            "the test-selected protocol is defined for mutag:",
        ),
        (
            ["instances", "--protocol", "test-selected"],
            "test-selected runs picked their epoch on the test fold: never kept as instances",
        ),
    ],
)
def test_reproduce_table3_refuses_bad_input_in_one_line(capsys, tmp_path, argv, message):
    what, *flags = argv
    assert main(["reproduce", what, "--out", str(tmp_path), *flags]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_mutag_train_evaluate_async_end_to_end(tmp_path):
    """A user's path on a benchmark: train on one fold, evaluate, run hogwild inference;
    an implicit model's graph answers are the synchronous ones under asynchrony."""
    run = tmp_path / "mutag"
    argv = ["train", "--task", "mutag", "--model", "ignn", "--epochs", "2", "--quiet"]
    assert main([*argv, "--set", "fold=2", "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["primary_metric"] == "error" and 0.0 <= metrics["test"]["error"] <= 1.0
    assert main(["evaluate", "--run", str(run)]) == 0
    assert main(["async", "--run", str(run), "--runs", "2", "--graphs", "3", "--x64"]) == 0
    report = json.loads((run / "async-S4-D3.json").read_text())
    assert report["task"] == "mutag" and len(report["async"]) == 2
    assert report["all_converged"] and report["max_deviation"] < 1e-4
