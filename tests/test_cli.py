"""The command line end to end: train a tiny run, re-evaluate it, reject bad input."""

import json
import math
import shutil
import subprocess
import sys
import threading

import equinox as eqx
import jax
import numpy as np
import pytest
from _support import held_elsewhere

from hogwild.cli import main
from hogwild.models import MODELS, make_model, parameter_spec
from hogwild.tasks import make_task
from hogwild.train import load_run

TINY = [
    "--task",
    "chains",
    "--model",
    "energy-node",
    "--length",
    "6",
    "--graphs",
    "6",
    "--epochs",
    "4",
    "--quiet",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def test_cli_train_writes_run(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 4 and metrics["model"] == "energy-node"
    for split in ("train", "validation", "test"):
        assert 0.0 <= metrics[split]["error"] <= 1.0
        assert metrics[split]["solver"]["unconverged"] == 0
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["task_options"] == {"length": 6, "num_graphs": 6}
    # energy_solver "auto" takes Newton on these small chains: one Cholesky adjoint per step
    assert config["train"]["energy_solver"] == "auto"
    assert metrics["train_adjoint"]["mean_steps"] == 1 == metrics["train_adjoint"]["solves"] / 4
    assert (tiny_run / "checkpoint.eqx").stat().st_size > 0


def test_cli_evaluate_reproduces_metrics(tiny_run, capsys):
    assert main(["evaluate", "--run", str(tiny_run)]) == 0
    saved = json.loads((tiny_run / "metrics.json").read_text())
    again = json.loads((tiny_run / "evaluation.json").read_text())
    for split in ("train", "validation", "test"):
        assert again[split]["error"] == saved[split]["error"]
        assert again[split]["loss"] == pytest.approx(saved[split]["loss"], rel=1e-5)
    assert "test: error" in capsys.readouterr().out


def test_cli_evaluate_refuses_corrupt_checkpoint(tiny_run, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    raw = bytearray((broken / "checkpoint.eqx").read_bytes())
    raw[-5] ^= 0x55
    (broken / "checkpoint.eqx").write_bytes(bytes(raw))
    assert main(["evaluate", "--run", str(broken)]) == 2
    assert "corrupt" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nope"], "unknown task 'nope'; valid: chains"),
        (
            ["--model", "gin"],
            "unknown model 'gin'; valid: energy-node, energy-edge, energy-attention, gsd, ignn,",
        ),
        (
            ["--set", "colour=red"],
            "unknown option 'colour'; valid: adjoint_max_steps, adjoint_tol, batch_size",
        ),
        (["--set", "length"], "--set expects KEY=VALUE"),
        (["--length", "1"], "`length` must be >= 2"),
        (["--epochs", "0"], "`epochs` must be > 0"),
        (["--set", "epochs=abc"], "`epochs` must be an integer; got 'abc'"),
        (["--lr", "inf"], "`learning_rate` must be finite"),
        (["--set", "batch_size=0"], "`batch_size` must be > 0"),
        (["--set", "solver_tol=-1"], "`solver_tol` must be > 0"),
        (["--set", "x64=1"], "`x64` must be true or false"),
        (["--model", "ignn", "--set", "kappa=abc"], "option 'kappa' of model 'ignn' must be"),
        (["--set", "beta=abc"], "option 'beta' of model 'energy-edge' must be a finite number"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be >= 1"),
        (
            ["--model", "ignn", "--set", "kappa=1.5"],
            "IGNN needs 0 < kappa < 1 for a contraction; got 1.5",
        ),
    ],
)
def test_cli_bad_input_is_one_line_error(args, message, tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()


def test_cli_out_not_writable_is_one_line_error(tmp_path, capsys):
    """--out below a regular file cannot be created (root can write anywhere else)."""
    (tmp_path / "file").write_text("")
    assert main(["train", "--out", str(tmp_path / "file" / "run"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write run directory" in err[0]


def test_cli_evaluate_missing_run(tmp_path, capsys):
    assert main(["evaluate", "--run", str(tmp_path / "none")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_cli_models_lists_every_model(capsys):
    from hogwild.models import MODELS

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in MODELS)


def test_console_script_installed():
    exe = shutil.which("hogwild")
    assert exe is not None, "the `hogwild` console script is not on PATH"
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "train" in done.stdout and "evaluate" in done.stdout
    assert sys.executable


def test_cli_summarise_tabulates_runs(tiny_run, tmp_path, capsys):
    fig = tmp_path / "fig.png"
    assert main(["summarise", str(tiny_run), str(tmp_path), "--figure", str(fig)]) == 0
    assert fig.stat().st_size > 0
    out = capsys.readouterr().out
    saved = json.loads((tiny_run / "metrics.json").read_text())
    assert f"| energy-node | {100 * saved['test']['error']:.1f} ± 0.0 |" in out
    assert "15.8 ± 17.9" in out  # the paper's node-wise chains entry beside ours
    assert main(["summarise", str(tmp_path)]) == 2


# --- every registered model end to end ----------------------------------------------------


def _every(name, out, *extra, epochs=3):
    """Tiny chains run of ``name``; batches of 2 chains give every split one padded shape,
    so each model compiles one training step and one evaluation step."""
    args = ["--task", "chains", "--model", name, "--length", "6", "--graphs", "10"]
    args += ["--epochs", str(epochs), "--out", str(out), "--quiet", "--set", "batch_size=2"]
    return main(["train", *args, *extra])


@pytest.mark.parametrize("name", [m for m in MODELS if m != "energy-node"])
def test_cli_trains_and_reevaluates_every_model(name, tmp_path, capsys):
    """`train` runs every registered model to finite metrics and says which solver it
    uses; `evaluate` on the saved run reproduces the test metric (energy-node: the
    module's `tiny_run` and `test_cli_evaluate_reproduces_metrics`)."""
    out = tmp_path / name
    assert _every(name, out) == 0
    solver = {"ignn": " (Anderson solves)", "gcn": "", "gat": ""}.get(name, " (Newton solves)")
    assert f"training {name} on chains{solver} -> " in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == name and metrics["epochs_run"] == 3
    assert math.isfinite(metrics["test"]["loss"]) and metrics["num_parameters"] > 0
    assert metrics["test"]["solver"]["unconverged"] == 0
    assert main(["evaluate", "--run", str(out)]) == 0
    again = json.loads((out / "evaluation.json").read_text())
    assert again["test"]["error"] == metrics["test"]["error"]
    assert again["test"]["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-5)


def test_cli_model_option_reaches_the_saved_model(tmp_path):
    """`--set kappa=0.5` is stored in config.json and the reloaded IGNN has κ = 0.5, with
    ‖θ_m‖_∞ <= 0.5 after training (the projection used the option)."""
    out = tmp_path / "ignn"
    assert _every("ignn", out, "--set", "kappa=0.5", epochs=1) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model_options"] == {"kappa": 0.5}
    _, _, model = load_run(out)
    assert model.kappa == 0.5
    assert np.abs(np.asarray(model.weight)).sum(1).max() <= 0.5 + 1e-6


def test_cli_models_prints_parameter_counts(capsys):
    """`hogwild models` lists every model with its family and its parameter count on chains."""
    assert main(["models"]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        fields = line.split()
        if fields and fields[0] in MODELS:
            rows[fields[0]] = fields
    assert sorted(rows) == sorted(MODELS)
    data = make_task("chains")
    for name, fields in rows.items():
        assert fields[1] == MODELS[name].family
        model = make_model(name, data.in_size, data.edge_size, data.out_size)
        leaves = jax.tree_util.tree_leaves(eqx.filter(model, parameter_spec(model)))
        assert int(fields[3]) == sum(leaf.size for leaf in leaves) > 0


@pytest.fixture(scope="module")
def tiny_gcn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "gcn"
    args = ["train", "--task", "chains", "--model", "gcn", "--length", "6", "--graphs", "6"]
    assert main([*args, "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    return out


def test_cli_async_implicit_model_matches_synchronous(tiny_run, capsys):
    """`hogwild async` on an energy run: every asynchronous run reaches the synchronous
    predictions (Prop. 4.2) and the files it promises exist."""
    args = ["async", "--run", str(tiny_run), "--runs", "2", "--step-size", "sync", "--x64"]
    assert main(args) == 0
    result = json.loads((tiny_run / "async-S4-D3.json").read_text())
    assert result["all_converged"] and len(result["async"]) == 2
    assert result["max_deviation"] < 1e-4 and result["decrease_mean"] == 0.0
    assert all(e["max_staleness"] <= 7 for e in result["async"])
    assert (tiny_run / "async-S4-D3.png").stat().st_size > 0
    assert "decrease" in capsys.readouterr().out
    before = (tiny_run / "async-S4-D3.json").read_bytes()
    assert main(args) == 2  # the same schedule again: refused, the result kept
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0]
    assert (tiny_run / "async-S4-D3.json").read_bytes() == before
    block = ["--runs", "1", "--graphs", "2", "--precondition", "--step-size", "0.25"]
    assert main([*args[:3], *block, "--x64"]) == 0  # block-Jacobi steps, their own file
    result = json.loads((tiny_run / "async-S4-D3-block.json").read_text())
    assert result["precondition"] and result["all_converged"] and result["step_size"] == 0.25
    assert result["max_deviation"] < 1e-4 and not result["certificate"]["safe"]  # α ≫ α_safe


def test_cli_async_killed_midway_continues_where_it_stopped(tiny_run, monkeypatch, capsys):
    """`hogwild async` killed after its first asynchronous run: the same command continues
    from the second (the first is kept, with its residual curve, in
    ``RUN/async-S2-D1.partial/``), the result equals an uninterrupted one's and the partial
    directory goes; the earlier result (of ``--overwrite``) is kept until then; other flags
    against a partial evaluation are refused in one line."""
    import hogwild._cli_async as cli_async
    import hogwild.experiments._async_eval as ae

    args = ["async", "--run", str(tiny_run), "--stagger", "2", "--delay", "1", "--runs", "2"]
    args += ["--graphs", "2", "--step-size", "sync", "--x64"]
    stem = tiny_run / "async-S2-D1"
    assert main(args) == 0
    whole = json.loads(stem.with_suffix(".json").read_text())
    printed = []

    def die_after_first(entry):
        printed.append(entry["seed"])
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_async, "print_async_run", die_after_first)
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--overwrite"])
    assert printed == [0]  # the earlier result stays until the new one replaces it
    assert json.loads(stem.with_suffix(".json").read_text()) == whole
    capsys.readouterr()
    assert main([*args[:-1], "--max-time", "50000", "--x64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0]
    monkeypatch.undo()
    simulated, real_simulate = [], ae.simulate
    monkeypatch.setattr(
        ae, "simulate", lambda *a, **k: simulated.append(a[2].seed) or real_simulate(*a, **k)
    )
    assert main([*args, "--overwrite"]) == 0  # the command that was killed, again
    assert simulated == [1] and not (tiny_run / "async-S2-D1.partial").exists()
    again = json.loads(stem.with_suffix(".json").read_text())
    for a, b in zip(again["async"], whole["async"], strict=True):
        for key in ("steps", "residuals", "deviation"):
            assert a[key] == b[key]


def test_cli_async_larger_budget_continues_the_runs_that_ended_on_the_old_one(
    tiny_run, monkeypatch, capsys
):
    """`hogwild async` whose runs end on their budget keeps them in ``STEM.partial/`` and
    says so; the same command with a larger ``--max-time`` continues the one that ran out
    (from its last state) and keeps the one that converged, and the result equals one made
    with the larger budget from the start; then nothing is left to continue."""
    import hogwild.asynchrony._simulate as sim

    args = ["async", "--run", str(tiny_run), "--runs", "2", "--graphs", "2"]
    args += ["--step-size", "sync", "--x64"]  # schedule S = 4, D = 3
    stem, work = tiny_run / "async-S4-D3", tiny_run / "async-S4-D3.partial"
    assert main([*args, "--max-time", "20000", "--overwrite"]) == 0 and not work.exists()
    whole = json.loads(stem.with_suffix(".json").read_text())
    steps = [e["steps"] for e in whole["async"]]
    assert whole["all_converged"] and steps[0] != steps[1]
    short = str(min(steps))  # one run converges exactly there, the other runs out
    assert main([*args, "--max-time", short, "--overwrite"]) == 0
    assert "1 of 2 runs ended on the" in capsys.readouterr().err and work.is_dir()
    resumed_at, resume_run = [], sim.resume_run
    monkeypatch.setattr(
        sim, "resume_run", lambda *a: resumed_at.append(int((r := resume_run(*a)).carry.t)) or r
    )
    assert main([*args, "--max-time", "20000"]) == 0
    assert resumed_at == [int(short)]  # one run simulated, from where the budget left it
    assert "continuing 1 asynchronous runs" in capsys.readouterr().err
    longer = json.loads(stem.with_suffix(".json").read_text())
    assert [e["steps"] for e in longer["async"]] == steps and not work.exists()
    assert longer["max_deviation"] == whole["max_deviation"] and longer["all_converged"]


def test_cli_says_when_a_run_has_not_learned(tiny_gcn_run, capsys):
    """A 3-epoch GCN on chains: its metrics carry the constant predictor, and `evaluate`
    prints NOT LEARNED exactly when validation is no better than it."""
    from hogwild.train._baseline import has_not_learned

    metrics = json.loads((tiny_gcn_run / "metrics.json").read_text())
    assert set(metrics["constant_predictor"]) == {"train", "validation", "test"}
    assert main(["evaluate", "--run", str(tiny_gcn_run)]) == 0
    evaluation = json.loads((tiny_gcn_run / "evaluation.json").read_text())
    assert evaluation["constant_predictor"] == metrics["constant_predictor"]
    assert ("NOT LEARNED" in capsys.readouterr().err) == has_not_learned(evaluation)


def test_cli_async_explicit_model_deviates(tiny_gcn_run):
    """`hogwild async` on a GCN run: not certified, and asynchrony changes its outputs."""
    assert main(["async", "--run", str(tiny_gcn_run), "--runs", "3", "--delay", "4"]) == 0
    result = json.loads((tiny_gcn_run / "async-S4-D4.json").read_text())
    assert not result["certificate"]["safe"]
    assert result["max_deviation"] > 1e-6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runs", "0"], "--runs and --graphs must be >= 1"),
        (["--step-size", "-1"], "--step-size must be > 0"),
        (["--step-size", "fast"], "--step-size must be a number, 'safe', 'sync' or 'minimiser'"),
        (["--stagger", "0"], "stagger S must be an integer >= 1"),
    ],
)
def test_cli_async_bad_input_is_one_line_error(tiny_run, args, message, capsys):
    assert main(["async", "--run", str(tiny_run), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_reproduce_reach(tiny_run, tmp_path, capsys):
    """How far the tiny run carries the class (`experiments._reach`), end to end."""
    run, out, length = tiny_run, tmp_path / "out", 6
    assert main(["reproduce", "reach", str(run), "--out", str(out)]) == 0
    (row,) = json.loads((out / "reach.json").read_text())
    trained = row["trained"]
    assert len(trained["signal"]) == length and (out / "reach.png").stat().st_size > 0
    # E couples the whole chain: every hop sees the head; κ is measured at H*
    assert all(s > 0 for s in trained["signal"]) and trained["solve_converged"]
    assert trained["condition"] > 1 and 0 < trained["decay_per_hop"] < 1
    # every test chain is a copy of a prototype: the same error, up to one (node, class)
    # whose logit sits at 0 between the float32 evaluation and this float64 solve
    assert abs(trained["error"] - row["test"]) <= 100 / (2 * length) + 1e-9
    wrong = length - trained["nodes_right"]
    assert 100 * wrong / (2 * length) <= trained["error"] + 1e-9 <= 100 * wrong / length + 2e-9
    assert f"| energy-node | `{run}` |" in (out / "reach_table.md").read_text()
    capsys.readouterr()
    assert main(["reproduce", "reach", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "not a finished run (no metrics.json)" in capsys.readouterr().err


def test_cli_reproduce_figure1(tmp_path, capsys):
    """Figure 1: the synchronous outputs of the unit-weight 3-layer sum GNN, and
    asynchronous orderings that give other outputs."""
    assert main(["reproduce", "figure1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "figure1.json").read_text())
    x = np.asarray(data["features"])
    h = x.copy()
    for _ in range(3):  # h_i <- h_i + sum of neighbours on the path, by hand
        h = h + np.concatenate([[0], h[:-1]]) + np.concatenate([h[1:], [0]])
    np.testing.assert_allclose(data["synchronous"], h)
    assert data["distinct_outputs"] > 1
    assert data["runs_equal_to_synchronous"] < data["runs"]
    assert (tmp_path / "figure1.png").stat().st_size > 0


def test_table2_row_resumes_from_its_last_finished_asynchronous_run(
    tiny_run, tmp_path, monkeypatch
):
    """A row killed during its second asynchronous run resumes there: the first is taken
    from ``table2.partial.jsonl``, not simulated again, the second continues from the
    checkpoint it saved in ``table2.checkpoints/`` (then removed), and the row equals an
    uninterrupted one's. `table2_status` says so at each stage, simulating nothing."""
    import hogwild.asynchrony._simulate as sim
    import hogwild.experiments._async_eval as ae
    from hogwild.experiments._table2 import table2_rows, table2_status
    from hogwild.train._checkpoint import read_header

    settings = {"runs": 2, "graphs": 2, "max_time": 20_000, "x64": True}
    whole = table2_rows([tiny_run], jsonl=tmp_path / "whole.jsonl", **settings)
    jsonl, partial = tmp_path / "t.jsonl", tmp_path / "t.partial.jsonl"
    monkeypatch.setattr(sim, "SEGMENT_STEPS", 20)
    monkeypatch.setattr(sim, "CHECKPOINT_SECONDS", 0.0)
    save_run = sim.save_run

    def die_in_second_run(path, loop, fingerprint):
        save_run(path, loop, fingerprint)
        if partial.is_file():
            raise KeyboardInterrupt

    monkeypatch.setattr(sim, "save_run", die_in_second_run)
    with pytest.raises(KeyboardInterrupt):
        table2_rows([tiny_run], jsonl=jsonl, **settings)
    assert not jsonl.exists() and len(partial.read_text().splitlines()) == 1
    (saved,) = (tmp_path / "t.checkpoints").iterdir()
    assert saved.name.endswith("tiny.seed1.ckpt")
    status = table2_status([tiny_run], jsonl, **settings)
    first = whole[0]["async"][0]["steps"]
    assert status[1:] == [
        f"  seed 0: converged at step {first:,}",
        f"  seed 1: state saved at step {read_header(saved)[0]['meta']['steps']:,} "
        "(continues from there)",
    ]
    monkeypatch.setattr(sim, "save_run", save_run)
    simulated, real_simulate = [], ae.simulate
    monkeypatch.setattr(
        ae, "simulate", lambda *a, **k: simulated.append(a[2].seed) or real_simulate(*a, **k)
    )
    (row,) = table2_rows([tiny_run], jsonl=jsonl, **settings)
    assert simulated == [1]  # seed 0 came from the partial file
    assert not saved.exists()
    assert table2_status([tiny_run], jsonl, **settings) == [
        f"{tiny_run}: recorded (2/2 reached tolerance)"
    ]
    for key in ("decrease_mean", "decrease_std", "max_deviation", "all_converged"):
        assert row[key] == whole[0][key]
    assert [e["steps"] for e in row["async"]] == [e["steps"] for e in whole[0]["async"]]


def test_table2_shared_by_processes_seed_by_seed(tiny_run, tmp_path, monkeypatch, capsys):
    """Another process simulates seed 0 of the row (it holds ``NAME.seed0.held/``): this
    one simulates seed 1, then says it waits; once the other has finished seed 0 (its line
    in ``table2.partial.jsonl``) and ended, this one takes that entry without simulating
    it, and records the row once, equal to one process's row."""
    import hogwild.experiments._async_eval as ae
    import hogwild.experiments._table2 as t2
    from hogwild.experiments._table2 import table2_rows
    from hogwild.train import append_json_line, read_json_lines

    settings = {"runs": 2, "graphs": 2, "max_time": 20_000, "x64": True}
    (whole,) = table2_rows([tiny_run], jsonl=tmp_path / "whole.jsonl", **settings)
    jsonl = tmp_path / "t.jsonl"
    held = ae.run_checkpoint(tmp_path / "t.checkpoints", tiny_run, 0).with_suffix(".held")
    simulated, real_simulate, rows = [], ae.simulate, []
    monkeypatch.setattr(
        ae, "simulate", lambda *a, **k: simulated.append(a[2].seed) or real_simulate(*a, **k)
    )
    waiting, say_waiting = threading.Event(), t2._waiting
    monkeypatch.setattr(t2, "_waiting", lambda *a: lambda: say_waiting(*a)() or waiting.set())
    with held_elsewhere(held):
        worker = threading.Thread(
            target=lambda: rows.extend(table2_rows([tiny_run], jsonl=jsonl, **settings))
        )
        worker.start()
        assert waiting.wait(timeout=600.0)
        worker.join(timeout=1.0)
        assert worker.is_alive() and not rows and simulated == [1]  # it waits for seed 0
        line = read_json_lines(tmp_path / "whole.partial.jsonl")[0]  # the other's seed 0
        append_json_line(tmp_path / "t.partial.jsonl", line)
    worker.join()
    assert simulated == [1] and f"waiting: another process simulates {tiny_run} seed 0" in (
        capsys.readouterr().err
    )
    (row,) = rows
    (recorded,) = read_json_lines(jsonl)  # recorded once
    assert [e["steps"] for e in recorded["async"]] == [e["steps"] for e in row["async"]]
    for key in ("decrease_mean", "decrease_std", "max_deviation", "all_converged"):
        assert row[key] == whole[key]
    assert [e["steps"] for e in row["async"]] == [e["steps"] for e in whole["async"]]
    assert not list((tmp_path / "t.checkpoints").iterdir())  # no checkpoint, no .held left


def test_table2_rows_extend_to_a_larger_budget(tiny_run, tmp_path, monkeypatch, capsys):
    """Rerun into the same file with a larger budget: the asynchronous run that ended on
    the small budget continues from its kept final state (not from step 0), the one that
    converged is kept, and the new row equals one made with the larger budget from the
    start; the old row stays before it, a smaller budget is refused, and a rerun with the
    larger one does nothing more."""
    import hogwild.asynchrony._simulate as sim
    from hogwild.experiments._table2 import latest_rows, table2_rows
    from hogwild.train import read_json_lines

    settings = {"runs": 2, "graphs": 2, "x64": True}
    (whole,) = table2_rows([tiny_run], jsonl=tmp_path / "whole.jsonl", max_time=20_000, **settings)
    steps = [e["steps"] for e in whole["async"]]
    assert all(e["converged"] for e in whole["async"]) and steps[0] != steps[1]
    short = min(steps)  # one run converges exactly there, the other ends on the budget
    jsonl = tmp_path / "t.jsonl"
    (old,) = table2_rows([tiny_run], jsonl=jsonl, max_time=short, **settings)
    assert sorted(e["converged"] for e in old["async"]) == [False, True]
    assert len(list((tmp_path / "t.checkpoints").iterdir())) == 1  # the unfinished run's
    resumed_at, resume_run = [], sim.resume_run
    monkeypatch.setattr(
        sim, "resume_run", lambda *a: resumed_at.append(int((r := resume_run(*a)).carry.t)) or r
    )
    (row,) = table2_rows([tiny_run], jsonl=jsonl, max_time=20_000, **settings)
    assert resumed_at == [short]  # one run simulated, from where the small budget left it
    assert "1 of 2 asynchronous runs ended on the" in capsys.readouterr().err
    assert [e["steps"] for e in row["async"]] == steps
    for key in ("decrease_mean", "decrease_std", "max_deviation", "all_converged"):
        assert row[key] == whole[key]
    assert not list((tmp_path / "t.checkpoints").iterdir())
    assert [r["settings"]["max_time"] for r in read_json_lines(jsonl)] == [short, 20_000]
    assert latest_rows(read_json_lines(jsonl)) == [read_json_lines(jsonl)[1]]  # tabulated
    with pytest.raises(ValueError, match="other settings"):
        table2_rows([tiny_run], jsonl=jsonl, max_time=short, **settings)
    (again,) = table2_rows([tiny_run], jsonl=jsonl, max_time=20_000, **settings)
    assert resumed_at == [short] and [e["steps"] for e in again["async"]] == steps


def test_cli_reproduce_table2(tiny_run, tiny_gcn_run, tmp_path, capsys):
    """Table 2 runner: one row per run, implicit decrease 0, written as Markdown and JSONL."""
    args = ["reproduce", "table2", str(tiny_run), str(tiny_gcn_run), "--async-runs", "2"]
    assert main([*args, "--out", str(tmp_path), "--x64"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "table2.jsonl").read_text().splitlines()]
    assert sorted(r["model"] for r in rows) == ["energy-node", "gcn"]
    energy = next(r for r in rows if r["model"] == "energy-node")
    assert energy["decrease_mean"] == 0.0 and energy["max_deviation"] < 1e-4
    table = (tmp_path / "table2_table.md").read_text()
    assert "| chains | gcn |" in table and "38.8 ± 3.3" in table

    # rerun: resumes (nothing evaluated again, same table); other settings: refused, kept
    before = (tmp_path / "table2.jsonl").read_bytes()
    assert main([*args, "--out", str(tmp_path), "--x64"]) == 0
    assert (tmp_path / "table2.jsonl").read_bytes() == before
    assert (tmp_path / "table2_table.md").read_text() == table
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path), "--x64", "--status"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{run}: recorded (2/2 reached tolerance)"
        for run in sorted(map(str, (tiny_run, tiny_gcn_run)))
    ]
    assert (tmp_path / "table2.jsonl").read_bytes() == before
    # a later call with some of the runs still tabulates every row the JSONL holds
    one = ["reproduce", "table2", str(tiny_gcn_run), "--async-runs", "2", "--x64"]
    assert main([*one, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "table2_table.md").read_text() == table
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "other settings" in error[0] and "are kept" in error[0]
    assert (tmp_path / "table2.jsonl").read_bytes() == before

    # block-Jacobi steps: recorded in the row and its settings, marked in the table
    block = tmp_path / "block"
    flags = ["--async-runs", "2", "--x64", "--precondition", "--step-size", "0.25"]
    assert main(["reproduce", "table2", str(tiny_run), *flags, "--out", str(block)]) == 0
    (row,) = [json.loads(line) for line in (block / "table2.jsonl").read_text().splitlines()]
    assert row["precondition"] and row["settings"]["precondition"] and row["step_size"] == 0.25
    assert row["decrease_mean"] == 0.0 and row["max_deviation"] < 1e-4
    assert all(e["converged"] for e in row["async"])
    assert "2.50e-01 block-Jacobi" in (block / "table2_table.md").read_text()


def test_cli_reproduce_table2_every_run_spreads_over_instances(tiny_run, tiny_gcn_run, tmp_path):
    """`--every-run` evaluates each given run (two GCN instances here), not the best on
    validation, and tabulates the spread; asynchrony changes no energy prediction."""
    copy = tmp_path / "gcn-copy"
    shutil.copytree(tiny_gcn_run, copy)
    runs = [str(tiny_gcn_run), str(copy), str(tiny_run)]
    out = tmp_path / "out"
    # --x64, as `hogwild async --x64` on the same run above: the same programs serve both
    flags = ["--async-runs", "2", "--every-run", "--x64", "--out", str(out)]
    assert main(["reproduce", "table2", *runs, *flags]) == 0
    rows = [json.loads(line) for line in (out / "table2.jsonl").read_text().splitlines()]
    assert sorted(r["run"] for r in rows) == sorted(runs)
    energy = next(r for r in rows if r["model"] == "energy-node")
    assert [e["changed"] for e in energy["async"]] == [0.0, 0.0]
    gcn = [e["changed"] for r in rows if r["model"] == "gcn" for e in r["async"]]
    assert all(0.0 <= c <= 1.0 for c in gcn)
    spread = (out / "table2_spread.md").read_text()
    assert "| chains | gcn | 2 |" in spread and "| chains | energy-node | 1 |" in spread


def test_changed_counts_flipped_classes_and_relative_regression_change():
    """`_changed` by hand: one of two real binary rows flips (the padded row is ignored);
    a regression output moved by (3, 4) from (0, 10) changed by 5 / 10."""
    from types import SimpleNamespace

    from hogwild.experiments._async_eval import _changed

    batch = SimpleNamespace(mask=np.array([True, True, False]))
    sync, pred = np.array([[1.0], [-1.0], [5.0]]), np.array([[2.0], [0.5], [-5.0]])
    assert _changed("binary", pred, sync, batch) == 0.5
    sync, pred = np.array([[0.0], [10.0], [0.0]]), np.array([[3.0], [14.0], [99.0]])
    assert _changed("regression", pred, sync, batch) == pytest.approx(0.5)


def test_reproduce_staleness_sweeps_bounds_and_resumes(tmp_path, capsys):
    """Two trained runs (GCN, GSD-GNN) against B = 1 and 6: the implicit model keeps its
    synchronous answer at every B, the explicit one only at B = 1; a rerun adds nothing."""
    runs = []
    for model in ("gcn", "gsd"):
        out = tmp_path / model
        flags = ["--task", "chains", "--model", model, "--length", "6", "--graphs", "6"]
        assert main(["train", *flags, "--epochs", "3", "--quiet", "--x64", "--out", str(out)]) == 0
        runs.append(str(out))
    sweep = ["reproduce", "staleness", *runs, "--bounds", "1,6", "--out", str(tmp_path / "r")]
    options = ["--async-runs", "2", "--graphs", "3"]
    assert main([*sweep, *options]) == 0
    rows = [json.loads(x) for x in (tmp_path / "r/staleness.jsonl").read_text().splitlines()]
    by = {(r["model"], r["bound"]): r for r in rows}
    assert set(by) == {("gcn", 1), ("gcn", 6), ("gsd", 1), ("gsd", 6)}
    assert by[("gsd", 6)]["max_deviation"] < 1e-6 and by[("gsd", 6)]["converged"] == 2
    assert by[("gcn", 1)]["max_deviation"] < 1e-12 and by[("gcn", 6)]["max_deviation"] > 1e-6
    assert (tmp_path / "r/staleness.png").is_file()
    assert main([*sweep, *options]) == 0
    assert len((tmp_path / "r/staleness.jsonl").read_text().splitlines()) == 4
    # block-Jacobi steps make their own series beside the plain one, in the same figure
    assert main([*sweep, *options, "--precondition", "--step-size", "0.5"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "r/staleness.jsonl").read_text().splitlines()]
    block = [r for r in rows if r["precondition"]]
    assert len(rows) == 6 and {r["model"] for r in block} == {"gsd"}
    assert all(r["converged"] == 2 and r["max_deviation"] < 1e-6 for r in block)
    assert "| gsd (chains, block-Jacobi) |" in (tmp_path / "r/staleness_table.md").read_text()
    capsys.readouterr()
    assert main([*sweep[:-2], "--bounds", "0,3", "--out", str(tmp_path / "x")]) == 2
    assert "--bounds" in capsys.readouterr().err


def _row(fold, validation, test=50.0):
    return {"protocol": "reduced", "task": "chains", "model": "energy-node", "fold": fold,
            "seed": 0, "metric": "error", "test": test, "validation": validation}  # fmt: skip


def test_cli_reproduce_instances_keeps_the_best_validation_run(tiny_run, tmp_path, capsys):
    """The cell's run with the lowest validation metric (not test) is copied into
    OUT/instances/TASK/MODEL, loadable as a run; a rerun keeps it; a better run found
    later is refused without --replace; a cell without rows is refused."""
    runs = tmp_path / "runs"
    shutil.copytree(tiny_run, runs / "reduced" / "chains" / "energy-node" / "fold0-seed0")
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    held = 100 * metrics["validation"][metrics["primary_metric"]]  # what fold 0's run holds
    rows = [_row(1, held + 10.0, test=1.0), _row(0, held)]
    (tmp_path / "table1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["reproduce", "instances", "--out", str(tmp_path), "--runs-dir", str(runs)]
    assert main(args) == 0
    dest = tmp_path / "instances" / "chains" / "energy-node"
    source = json.loads((dest / "source.json").read_text())
    assert source["row"] == rows[1] and not source["retrained"]
    for name in ("config.json", "checkpoint.eqx", "metrics.json"):
        assert (dest / name).read_bytes() == (tiny_run / name).read_bytes()
    load_run(dest)
    assert main(args) == 0 and "kept in" in capsys.readouterr().err

    with (tmp_path / "table1.jsonl").open("a") as f:
        f.write(json.dumps(_row(2, held - 5.0)) + "\n")
    assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "fold 2 seed 0" in error[0] and "--replace" in error[0]
    assert json.loads((dest / "source.json").read_text())["row"] == rows[1]
    assert main([*args, "--cell", "mutag:gcn"]) == 2
    assert "no reduced rows" in capsys.readouterr().err


def test_instance_whose_run_directory_is_gone_is_retrained(tmp_path):
    """keep_instance retrains the row's fold and seed under its protocol, then keeps it."""
    from hogwild.experiments._instances import keep_instance
    from hogwild.experiments._table1 import Protocol

    protocol = Protocol("tiny", 1, 1, 2, 2, {"chains": {"length": 5, "num_graphs": 6}})
    row = {"protocol": "tiny", "task": "chains", "model": "gcn", "fold": 0, "seed": 0}
    record = keep_instance(protocol, row, tmp_path / "runs", tmp_path / "kept")
    assert record["retrained"] and record["run"].endswith("tiny/chains/gcn/fold0-seed0")
    config, _, _ = load_run(tmp_path / "kept")
    assert config.task_options == {"length": 5, "num_graphs": 6, "seed": 0}
    assert json.loads((tmp_path / "kept" / "metrics.json").read_text())["epochs_run"] == 2
    # the run is there now: kept again, not retrained, when the row says what it holds...
    row |= {"validation": record["validation"]}
    again = keep_instance(protocol, row, tmp_path / "runs", tmp_path / "again")
    assert not again["retrained"] and again["test"] == record["test"]
    # ...an earlier retraining when the row's own run was trained elsewhere...
    elsewhere = {**row, "validation": 0.0, "run": "/elsewhere/fold0-seed0"}
    assert keep_instance(protocol, elsewhere, tmp_path / "runs", tmp_path / "y")["retrained"]
    # ...and refused when the row names this directory, whose run was then replaced
    replaced = {**elsewhere, "run": record["run"]}
    with pytest.raises(ValueError, match="the row's run was replaced"):
        keep_instance(protocol, replaced, tmp_path / "runs", tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("residuals", "final", "says_not_converging"),
    [([195.0, 80.0], 6.8e3, True), ([195.0, 80.0], 195.0, True), ([195.0, 80.0], 0.1, False)],
)
def test_async_line_says_when_a_run_out_of_time_made_no_progress(
    residuals, final, says_not_converging, capsys
):
    """A finite residual that ended at or above its first check is not a slow run: the
    line says NOT CONVERGING (measured: 6.8e3 from 195 on a trained energy at a block step
    too large); a run that did progress ends plainly on its time budget."""
    from hogwild._cli_async import print_async_run

    entry = {"seed": 0, "metric": 0.3, "deviation": 45.0, "steps": 200_000, "max_staleness": 7}
    entry |= {"converged": False, "diverged": False, "stalled": False}
    print_async_run({**entry, "residuals": residuals, "final_residual": final})
    line = capsys.readouterr().err
    assert "(time budget" in line
    assert ("NOT CONVERGING" in line) == says_not_converging


def test_table2_row_counts_runs_that_made_no_progress():
    """The verdict survives the JSON row, which drops the residual curves."""
    from hogwild.experiments._async_eval import made_no_progress
    from hogwild.experiments._table2 import _slim, table2_markdown

    ended = {"converged": False, "diverged": False, "stalled": False, "decrease": 0.0}
    runs = [
        {**ended, "residuals": [195.0, 80.0], "final_residual": f, "steps": n}
        for f, n in ((6.8e3, 200_000), (0.1, 1_234_560))
    ]
    runs = [_slim({**e, "no_progress": made_no_progress(e)}) for e in runs]
    row = {"task": "counting", "model": "energy-edge", "sync": {"metric": 0.1}, "async": runs}
    row |= {"decrease_mean": 0.0, "decrease_std": 0.0, "max_deviation": 45.0}
    row |= {"step_size": 0.01, "certificate": {"safe": False}}
    assert "| 0/2 (1 no progress) | 200,000–1,234,560 |" in table2_markdown([row])
