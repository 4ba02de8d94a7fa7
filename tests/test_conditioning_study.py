"""The conditioning study end to end on a tiny instance: rows, resume, table, figure."""

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
