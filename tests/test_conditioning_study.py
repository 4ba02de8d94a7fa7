"""The conditioning study end to end on a tiny instance: rows, resume, table, figure."""

import pytest

from hogwild.cli import main
from hogwild.experiments._conditioning import (
    Study,
    conditioning_figure,
    conditioning_markdown,
    load_points,
    run_study,
    training_figure,
)

TINY = Study(
    tasks={"chains": {"length": 6, "num_graphs": 6}},
    bounds=(100.0,),  # one real point: each bound compiles its own programs
    epochs=10,
    async_runs=1,
    async_graphs=2,
    model="energy-node",  # the cheapest energy to compile; the study is the same for all
)


def test_study_records_every_bound_once_and_reports(tmp_path):
    jsonl = tmp_path / "c.jsonl"
    rows = run_study(TINY, tmp_path / "runs", jsonl)
    assert [r["bound"] for r in rows] == [100.0]
    (bounded,) = rows
    assert bounded["condition"] <= 100.0  # the bound holds at the trained H*
    assert bounded["hessian_min"] >= 0.04 * (1 - 1e-3)  # μ >= β
    assert bounded["async_runs"] == 1 and bounded["test_solver_steps"] > 0
    assert run_study(TINY, tmp_path / "runs", jsonl) == []  # resumed: nothing new
    assert len(load_points(jsonl)) == 1
    unbounded = {**bounded, "bound": None}  # the table's and figures' other label
    table = conditioning_markdown([unbounded, *load_points(jsonl)])
    assert "| chains | none |" in table and "| chains | 100 |" in table
    conditioning_figure([unbounded, bounded], tmp_path / "c.png")
    training_figure([unbounded, bounded], tmp_path / "t.png")
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "t.png").stat().st_size > 0


def test_cli_refuses_a_bad_epoch_count(tmp_path, capsys):
    assert main(["reproduce", "conditioning", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "--epochs must be >= 1" in capsys.readouterr().err


def test_penalty_points_are_labelled_apart_from_bounds():
    """A penalty point and a bound point of the same κ are different rows of the table."""
    from hogwild.experiments._conditioning import point_label

    row = {"task": "counting", "test": 10.0, "hessian_max": 1.0, "hessian_min": 0.04}
    row |= {"condition": 25.0, "train_solver_steps": 5, "test_solver_steps": 7}
    row |= {"async_steps": 100, "async_converged": 2, "async_runs": 2}
    bound, penalty = {**row, "bound": 100.0}, {**row, "bound": None, "penalty": 100.0}
    assert (point_label(bound), point_label(penalty)) == ("100", "penalty 100")
    table = conditioning_markdown([bound, penalty])
    assert "| counting | 100 |" in table and "| counting | penalty 100 |" in table


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--penalties", "1000,x"], "--penalties"),
        (["--penalties", "1"], "--penalties"),
        (["--tasks", "mnist"], "unknown --tasks mnist"),
    ],
)
def test_cli_refuses_bad_penalty_targets_and_tasks(flags, message, tmp_path, capsys):
    assert main(["reproduce", "conditioning", *flags, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
