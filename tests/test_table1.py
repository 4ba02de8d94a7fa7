"""The Table 1 runner: one tiny cell end to end, resuming, and interrupted runs."""

import json

import pytest
from _support import tiny_cell_protocol

from hogwild.experiments._table1 import Protocol, load_rows, run_cell, table1_markdown

TINY = tiny_cell_protocol()


def test_cell_runs_every_fold_and_seed_then_resumes(tmp_path):
    """A cell writes one JSON line per fold × seed; a second call trains nothing new."""
    jsonl = tmp_path / "table1.jsonl"
    rows = run_cell("chains", "gcn", TINY, tmp_path / "runs", jsonl)
    assert [(r["fold"], r["seed"]) for r in rows] == [(0, 0), (1, 0)]
    assert all(0.0 <= r["test"] <= 100.0 and r["protocol"] == "tiny" for r in rows)
    config = json.loads((tmp_path / "runs/tiny/chains/gcn/fold1-seed0/config.json").read_text())
    assert config["task_options"]["seed"] == 1  # the fold is the split seed
    assert run_cell("chains", "gcn", TINY, tmp_path / "runs", jsonl) == []
    assert len(load_rows(jsonl, "tiny")) == 2
    table = table1_markdown(load_rows(jsonl))
    assert "| gcn |" in table and "paper 47.0 ± 0.0" in table


def test_interrupted_run_is_not_recorded(tmp_path, monkeypatch):
    """A run stopped by Ctrl-C is not written to the JSON lines, so a rerun redoes it."""
    import hogwild.experiments._table1 as t1

    def interrupted(configs, outs, options, **kwargs):
        options.finished(0, {"stopped": "interrupted during epoch 2", "primary_metric": "error"})
        raise KeyboardInterrupt

    monkeypatch.setattr(t1, "train_runs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_cell("chains", "gcn", TINY, tmp_path / "runs", tmp_path / "t.jsonl")
    assert load_rows(tmp_path / "t.jsonl") == []


def test_finished_run_without_its_row_is_read_not_retrained(tmp_path, monkeypatch):
    """A run killed after finishing but before its JSON line was written is recorded from
    its metrics.json; nothing is trained twice."""
    import hogwild.experiments._table1 as t1

    first = run_cell("chains", "gcn", TINY, tmp_path / "runs", tmp_path / "a.jsonl")

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(t1, "train_runs", no_training)
    again = run_cell("chains", "gcn", TINY, tmp_path / "runs", tmp_path / "b.jsonl")
    assert [r["test"] for r in again] == [r["test"] for r in first]


def test_task_train_options_override_the_protocol_epochs():
    from hogwild.experiments._table1 import PROTOCOLS

    reduced = PROTOCOLS["reduced"]
    chains, counting = reduced.train_config("chains", 1), reduced.train_config("counting", 0)
    assert (chains.epochs, chains.seed, chains.learning_rate) == (5000, 1, 0.003)
    assert (counting.epochs, counting.patience) == (reduced.epochs, reduced.patience)
    assert (chains.spike_guard, counting.spike_guard) == (1.2, None)


def test_each_cell_shows_its_strongest_protocol_and_the_compute_time():
    def row(protocol, model, test):
        return {
            "protocol": protocol,
            "task": "chains",
            "model": model,
            "test": test,
            "seconds": 1800,
        }

    rows = [row("reduced", "gcn", 10.0), row("paper", "gcn", 20.0), row("paper", "gcn", 30.0)]
    rows.append(row("reduced", "gat", 40.0))
    rows[1]["trained_with"] = rows[2]["trained_with"] = 2  # one stacked program: 0.5 h
    table = table1_markdown(rows)
    assert "25.0 ± 5.0 (2, paper)" in table and "10.0" not in table
    assert "40.0 ± 0.0 (1, reduced)" in table
    assert "paper: 2 runs, 0.5 h" in table and "reduced: 1 runs, 0.5 h" in table
    header = table.splitlines()[0]  # tasks without rows keep their column beside the paper's
    assert header == "| model | chains | counting | sums | coordinates | mnist |"
    assert "| —<br>paper 13.0 ± 0.6 |" not in table  # energy-edge is not among the rows
    assert table.splitlines()[2].endswith("| —<br>paper 29.7 ± 0.5 |")  # gcn on MNIST


@pytest.mark.parametrize(
    ("task", "at", "eta"), [("sums", 750, "ETA 12 min"), ("chains", 1000, "ETA 67 min")]
)
def test_progress_eta_counts_the_cells_own_epoch_budget(task, at, eta, capsys):
    """Reduced protocol: sums trains 1500 epochs, chains 5000; one second per epoch."""
    from hogwild._cli_cells import cell_progress
    from hogwild.experiments._table1 import PROTOCOLS

    show = cell_progress(PROTOCOLS["reduced"], task)
    for epoch in (1, at):
        record = {"seconds": epoch - 1.0, "solver_steps": 3, "adjoint_steps": 1}
        show(epoch, {0: {**record, "validation_loss": 0.5}})
    assert capsys.readouterr().err.splitlines()[-1].endswith(eta)


def test_progress_eta_restarts_with_each_group(capsys):
    """A second group (back at epoch 1, with less training time than the first group's
    resumed runs had) gets its own pace: never a negative ETA."""
    from hogwild._cli_cells import cell_progress
    from hogwild.experiments._table1 import PROTOCOLS

    show = cell_progress(PROTOCOLS["reduced"], "sums")  # 1500 epochs, a line every 375
    for epoch, seconds in ((1, 3000.0), (375, 3374.0), (1, 0.0), (375, 374.0)):
        record = {"seconds": seconds, "solver_steps": 3, "adjoint_steps": 1}
        show(epoch, {0: {**record, "validation_loss": 0.5}})
    assert capsys.readouterr().err.splitlines()[-1].endswith("ETA 19 min")


def test_progress_always_shows_the_hand_over_to_newton(capsys):
    """The epoch whose record says "auto" handed the solves to Newton is printed even
    between the throttled lines, and says so; the epochs around it stay quiet."""
    from hogwild._cli_cells import cell_progress
    from hogwild.experiments._table1 import PROTOCOLS

    show = cell_progress(PROTOCOLS["reduced"], "sums")  # a line every 375 epochs
    for epoch in (1, 2, 3, 4):
        record = {"seconds": float(epoch), "solver_steps": 50, "adjoint_steps": 70}
        show(
            epoch,
            {0: {**record, "validation_loss": 0.5, **({"solver": "newton"} if epoch == 3 else {})}},
        )
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[1] for line in lines] == ["1", "3"]
    assert lines[1].endswith("(L-BFGS outpaced: newton from now on)")


def test_pending_runs_go_seed_by_seed():
    """An interrupted cell holds whole k-fold cross-validations of its first seeds."""
    from hogwild.experiments._table1 import _pending

    two = Protocol("two", folds=3, seeds=2, epochs=1, patience=1, task_options={})
    done = {("two", "chains", "gcn", 0, 0)}
    order = [(fold, seed) for fold, seed, *_ in _pending("chains", "gcn", two, "runs", done)]
    assert order == [(1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]


@pytest.mark.parametrize(
    ("seeds", "status", "trained"),
    [("2", 0, [(0, 0), (1, 0), (0, 1), (1, 1)]), ("1", 0, [(0, 0), (1, 0)]), ("3", 2, [])],
)
def test_reproduce_seeds_trains_the_first_seeds_of_every_fold(
    seeds, status, trained, tmp_path, monkeypatch, capsys
):
    """``--seeds N`` keeps the protocol (its name, options and folds) and trains only its
    first N parameter seeds; N above the protocol's seeds is refused before any work."""
    import hogwild.experiments._table1 as t1
    from hogwild.cli import main

    protocol = Protocol("paper", folds=2, seeds=2, epochs=1, patience=1, task_options={})
    monkeypatch.setitem(t1.PROTOCOLS, "paper", protocol)
    seen = []

    def record(task, model, protocol, runs_dir, jsonl, *args, **kwargs):
        pending = t1._pending(task, model, protocol, runs_dir, set())
        seen.extend((fold, seed) for fold, seed, *_ in pending)
        assert protocol.name == "paper"
        return []

    monkeypatch.setattr(t1, "run_cell", record)
    argv = ["reproduce", "table1", "--protocol", "paper", "--cell", "chains:gcn", "--seeds", seeds]
    assert main([*argv, "--out", str(tmp_path)]) == status
    assert seen == trained
    err = capsys.readouterr().err.strip().splitlines()
    if status:
        assert len(err) == 1 and "--seeds must be in 1..2 for the paper protocol" in err[0]
    else:
        assert "no table written" in err[-1]  # nothing recorded: no empty table, no crash


def test_run_killed_before_its_final_evaluation_is_evaluated_not_retrained(tmp_path, monkeypatch):
    """A run whose training finished (state.eqx says so) but whose metrics.json was never
    written — killed during its final evaluation — is evaluated when the cell is rerun:
    same row, no epoch trained again."""
    import hogwild.train._runs as runs_module

    first = run_cell("chains", "gcn", TINY, tmp_path / "runs", tmp_path / "a.jsonl")
    (tmp_path / "runs/tiny/chains/gcn/fold1-seed0/metrics.json").unlink()

    def no_training(*args, **kwargs):
        raise AssertionError("a run whose training had finished was trained again")

    monkeypatch.setattr(runs_module, "_train_group", no_training)
    monkeypatch.setattr(runs_module, "train_in_workers", no_training, raising=False)
    again = run_cell("chains", "gcn", TINY, tmp_path / "runs", tmp_path / "b.jsonl")
    assert [(r["fold"], r["seed"]) for r in again] == [(0, 0), (1, 0)]
    assert [r["test"] for r in again] == pytest.approx([r["test"] for r in first], rel=1e-9)


def test_a_run_made_before_the_protocol_changed_is_refused_not_recorded(tmp_path):
    """After a protocol change (here the chains size), a finished run of the cell made
    with the old options is neither recorded as a row of the new protocol nor continued:
    the cell stops with a reason naming the option, before training anything."""
    import dataclasses

    from hogwild.train._rundir import RunDirError

    run_cell("chains", "gcn", TINY, tmp_path / "runs", tmp_path / "old.jsonl")
    changed = dataclasses.replace(TINY, task_options={"chains": {"length": 6, "num_graphs": 8}})
    with pytest.raises(RunDirError, match=r"task_options.num_graphs \(saved 6, given 8\)"):
        run_cell("chains", "gcn", changed, tmp_path / "runs", tmp_path / "new.jsonl")
    assert load_rows(tmp_path / "new.jsonl") == []
