"""Multi-start: the initialisation is chosen on validation loss alone, the chosen one
continues exactly as a plain run of its seed, and an interrupted choice resumes."""

import json
import shutil

import equinox as eqx
import jax
import numpy as np
import pytest

from hogwild.cli import main
from hogwild.train import (
    RunConfig,
    RunsOptions,
    TrainConfig,
    _starts,
    load_run,
    train_run,
    train_runs,
)
from hogwild.train._starts import start_seed

TASK = {"num_graphs": 8, "length": 6}


def _config(seed=0, **train):
    return RunConfig("chains", "gcn", TASK, TrainConfig(seed=seed, x64=True, **train))


def _leaves(run_dir):
    model = load_run(run_dir)[2]
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))]


def _same_model(a, b):
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


def _choice(metrics):
    """A multi-start record without its timings: (chosen, [(seed, best loss)])."""
    starts = metrics["starts"]
    trials = [(t["seed"], t["best_validation_loss"]) for t in starts["trials"]]
    return starts["chosen"], trials


def _validation_losses(run_dir):
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    return [json.loads(line)["validation_loss"] for line in lines]


def test_start_seeds_are_the_seed_then_distinct():
    seeds = [start_seed(7, c) for c in range(6)]
    assert seeds[0] == 7 and len(set(seeds)) == 6
    assert seeds == [start_seed(7, c) for c in range(6)]  # reproducible
    assert all(0 <= s < 2**31 for s in seeds)


MULTI = dict(starts=3, start_epochs=4, epochs=8, patience=50)


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    """A run of three starts tried for 4 epochs each, continued to epoch 8: (dir, metrics)."""
    out = tmp_path_factory.mktemp("multi") / "run"
    return out, train_run(_config(**MULTI), out)


def test_chosen_start_continues_exactly_as_a_plain_run_of_its_seed(multi, tmp_path):
    """The trial with the lowest validation loss is continued and ends with the parameters
    and history of a plain 8-epoch run of its seed."""
    out, metrics = multi
    record = json.loads((out / "starts.json").read_text())
    assert metrics["starts"] == record
    trials = record["trials"]
    losses = [t["best_validation_loss"] for t in trials]
    assert [t["epochs_run"] for t in trials] == [4, 4, 4] and len(set(losses)) == 3
    assert record["chosen"] == int(np.argmin(losses))
    seed = trials[record["chosen"]]["seed"]
    assert seed == start_seed(0, record["chosen"])
    plain = tmp_path / "plain"
    train_run(_config(seed=seed, epochs=8, patience=50), plain)
    _same_model(out, plain)
    assert _validation_losses(out) == pytest.approx(_validation_losses(plain), rel=1e-12)


def test_an_interrupted_choice_resumes_without_training_the_finished_trials(
    multi, tmp_path, monkeypatch
):
    """Killed after its trials (no training state yet): --resume loads them, trains none
    again, and ends where the uninterrupted run did."""
    whole, killed = multi[0], tmp_path / "killed"
    shutil.copytree(whole, killed)
    for name in ("state.eqx", "checkpoint.eqx", "metrics.json", "history.jsonl", "starts.json"):
        (killed / name).unlink()
    trained = []
    real_fit = _starts.fit
    monkeypatch.setattr(_starts, "fit", lambda *a, **k: trained.append(1) or real_fit(*a, **k))
    assert main(["train", "--out", str(killed), "--resume", "--quiet"]) == 0
    assert trained == []
    _same_model(killed, whole)
    assert json.loads((killed / "starts.json").read_text()) == json.loads(
        (whole / "starts.json").read_text()
    )


def test_runs_trained_together_choose_their_starts_alone(multi, tmp_path):
    """Two stacked runs with three starts each: each chooses on its own validation losses,
    and seed 0 ends as it does alone (`train_run`)."""
    configs = [_config(seed=s, **MULTI) for s in (0, 1)]
    outs = [tmp_path / f"seed-{s}" for s in (0, 1)]
    results = train_runs(configs, outs, RunsOptions(stack=True))
    _same_model(outs[0], multi[0])
    for result in results:
        losses = [t["best_validation_loss"] for t in result["starts"]["trials"]]
        assert result["starts"]["chosen"] == int(np.argmin(losses))
    chosen = [_choice(r) for r in (results[0], multi[1], results[1])]
    assert chosen[0] == chosen[1] != chosen[2]


@pytest.mark.parametrize("field", ["starts", "start_epochs"])
def test_start_options_must_be_positive(field, tmp_path, capsys):
    with pytest.raises(ValueError, match=f"`{field}` must be > 0"):
        TrainConfig(**{field: 0})
    code = main(["train", "--out", str(tmp_path / "r"), "--set", f"{field}=0", "--quiet"])
    assert code == 2 and f"`{field}` must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_table1_rows_name_the_continued_start():
    from hogwild.experiments._table1 import _start_entry

    metrics = {
        "starts": {
            "chosen": 1,
            "trials": [{"start": 0, "seed": 4}, {"start": 1, "seed": 9}],
        }
    }
    assert _start_entry(metrics) == {"starts": 2, "start_seed": 9} and _start_entry({}) == {}


def test_cli_reports_each_trial_and_the_choice(tmp_path, capsys):
    args = ["train", "--task", "chains", "--model", "gcn", "--length", "6", "--graphs", "8"]
    args += ["--epochs", "3", "--set", "starts=2", "--set", "start_epochs=2", "--x64"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    seed = start_seed(0, 1)
    assert f"trying start 1 of 2 (seed {seed})" in err and "start 1  epoch     1" in err
    chosen = json.loads((tmp_path / "run" / "starts.json").read_text())["chosen"]
    assert f"continuing start {chosen} (seed {start_seed(0, chosen)}" in err
