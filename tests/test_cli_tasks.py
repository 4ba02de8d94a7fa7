"""The CLI on the synthetic regression tasks: train end to end, and refuse flags of other
tasks (a file of its own so that test workers share the CLI tests evenly)."""

from __future__ import annotations

import json
import math

import pytest

from hogwild.cli import main


def _synthetic(task, out, *options):
    args = ["train", "--task", task, "--model", "gsd", "--epochs", "2", "--quiet"]
    return main([*args, "--out", str(out), *(x for o in options for x in ("--set", o))])


def _check_synthetic_run(out, task, options):
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["primary_metric"] == "relative_rmse" and metrics["epochs_run"] == 2
    for split in ("train", "validation", "test"):
        assert math.isfinite(metrics[split]["relative_rmse"]) and metrics[split]["rmse"] >= 0
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == task and config["task_options"] == options


def test_cli_trains_counting(tmp_path):
    out = tmp_path / "counting"
    assert _synthetic("counting", out, "num_graphs=6", "max_length=8") == 0
    _check_synthetic_run(out, "counting", {"num_graphs": 6, "max_length": 8})


def test_cli_trains_sums(tmp_path):
    out = tmp_path / "sums"
    assert _synthetic("sums", out, "num_graphs=6", "length=8") == 0
    _check_synthetic_run(out, "sums", {"num_graphs": 6, "length": 8})


def test_cli_trains_coordinates(tmp_path):
    out = tmp_path / "coordinates"
    assert _synthetic("coordinates", out, "num_graphs=6", "num_nodes=8", "batch_size=2") == 0
    _check_synthetic_run(out, "coordinates", {"num_graphs": 6, "num_nodes": 8})


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "counting", "--length", "5"], "--length does not apply to task 'counting'"),
        (["--task", "sums", "--classes", "3"], "--classes does not apply to task 'sums'"),
        (["--task", "coordinates", "--set", "radius=0"], "`radius` must be positive"),
        (
            ["--task", "mutag", "--set", "selection=test"],
            "`selection` must be one of validation, test-fold; got 'test'",
        ),
    ],
)
def test_cli_flag_not_of_the_task_is_one_line_error(args, message, tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()
