"""The spike guard (`TrainConfig.spike_guard`): a training loss above f × its lowest so
far sends parameters, optimiser state and warm starts back to that epoch's and halves the
learning rate; a continued run rolls back exactly as an uninterrupted one."""

import dataclasses

import equinox as eqx
import jax
import numpy as np
import optax
import pytest

from hogwild.cli import main
from hogwild.tasks.chains import ChainsConfig, make_chains
from hogwild.train import (
    RunConfig,
    RunsOptions,
    TrainConfig,
    load_checkpoint,
    read_header,
    save_checkpoint,
    train_runs,
)
from hogwild.train._fit import fit, initial_state
from hogwild.train._group import GroupHooks, fit_group
from hogwild.train._guard import MAX_ROLLBACKS
from hogwild.train._run import build_model, model_spec

FACTOR = 1.2
#: lr 1.0 on 6-node chains: Adam overshoots and the loss jumps ×1.4–2.4 within 10 epochs.
CONFIG = TrainConfig(epochs=10, x64=True, learning_rate=1.0, spike_guard=FACTOR)
DATA = make_chains(ChainsConfig(num_graphs=6, length=6))
SPEC = model_spec(RunConfig("chains", "energy-node", {}, CONFIG), DATA)


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]


def _fit(**kwargs):
    return fit(build_model(SPEC, seed=0), DATA, CONFIG, **kwargs)


@pytest.fixture(scope="module")
def whole():
    return _fit()


def test_a_spike_goes_back_to_the_lowest_loss_with_half_the_learning_rate(whole):
    losses = [r["train_loss"] for r in whole.history]
    rollbacks = [r["rollbacks"] for r in whole.history]
    assert rollbacks[-1] >= 2  # the premise: this run spikes
    assert rollbacks == sorted(rollbacks) and rollbacks[-1] <= MAX_ROLLBACKS
    for t in range(1, len(losses) - 1):
        lowest = min(losses[:t])
        spiked = losses[t] > FACTOR * lowest
        assert rollbacks[t] - rollbacks[t - 1] == int(spiked)
        if spiked:  # the next epoch starts from the lowest epoch's parameters and warm starts
            assert whole.history[t]["rolled_back_to"] == 1 + int(np.argmin(losses[:t]))
            assert losses[t + 1] == lowest
        else:
            assert "rolled_back_to" not in whole.history[t]
    scale = optax.tree_utils.tree_get(whole.state.opt_state, "step_size")
    assert float(scale) == 0.5 ** rollbacks[-1]


def test_without_the_guard_the_same_run_keeps_its_spikes(whole):
    config = dataclasses.replace(CONFIG, spike_guard=None)
    plain = fit(build_model(SPEC, seed=0), DATA, config)
    losses = [r["train_loss"] for r in plain.history]
    assert "rollbacks" not in plain.history[0]
    first = next(i for i, r in enumerate(whole.history) if r["rollbacks"])
    assert losses[: first + 1] == [r["train_loss"] for r in whole.history[: first + 1]]
    assert losses[first + 1] != whole.history[first + 1]["train_loss"]


def test_a_continued_run_rolls_back_as_an_uninterrupted_one(whole, tmp_path):
    """Saved the epoch before the first rollback and continued, the run goes back to a
    snapshot taken before the save and ends with the uninterrupted run's parameters."""
    first = next(r["epoch"] for r in whole.history if r["rollbacks"])
    saved = {}

    def keep(state):
        if state.epoch == first - 1:
            path = tmp_path / "state.eqx"
            save_checkpoint(path, state.arrays(), {"run": 1}, state.numbers())
            saved["path"] = path

    _fit(checkpoint=keep, checkpoint_every=1)
    skeleton = initial_state(build_model(SPEC, seed=0), DATA, CONFIG)
    numbers = read_header(saved["path"])[0]["meta"]
    arrays = load_checkpoint(saved["path"], skeleton.arrays(), {"run": 1})
    state = skeleton.restored(arrays, numbers)
    losses = [r["train_loss"] for r in whole.history[: first - 1]]
    assert state.guard_epoch == 1 + int(np.argmin(losses))
    continued = _fit(state=state)
    assert [r["rollbacks"] for r in continued.history] == [r["rollbacks"] for r in whole.history]
    for a, b in zip(_leaves(continued.state.model), _leaves(whole.state.model)):
        np.testing.assert_array_equal(a, b)


def test_guarded_runs_train_one_by_one(tmp_path):
    """GCN runs, stacked by default, train one by one under a guard (through `fit`, with
    their histories)."""
    task = {"num_graphs": 6, "length": 6}
    configs = [
        RunConfig("chains", "gcn", task, dataclasses.replace(CONFIG, epochs=2, seed=s))
        for s in (0, 1)
    ]
    outs = [tmp_path / "a", tmp_path / "b"]
    results = train_runs(configs, outs, RunsOptions(stack=None))
    assert [r["trained_with"] for r in results] == [1, 1]
    for out in outs:
        assert '"rollbacks"' in (out / "history.jsonl").read_text()
    with pytest.raises(ValueError, match="one by one"):
        fit_group([build_model(SPEC, seed=0)], [DATA], CONFIG, GroupHooks(finished=print))


def test_a_guard_of_at_most_one_is_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="spike_guard"):
        TrainConfig(spike_guard=1.0)
    args = ["train", "--task", "chains", "--model", "gcn", "--set", "spike_guard=0.5"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    assert "spike_guard" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_cli_says_when_it_rolls_back(tmp_path, capsys):
    args = ["train", "--task", "chains", "--model", "energy-node", "--length", "6"]
    args += ["--graphs", "6", "--x64", "--lr", "1.0", "--epochs", "4", "--set", "spike_guard=1.2"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "loss spike: back to epoch" in err and "learning rate × 2^-1" in err


def test_a_diverged_epoch_is_undone_like_a_spike(monkeypatch):
    """An epoch that diverges (here: made to, at its 2nd epoch, before this run's first
    spike) goes back to the lowest-loss snapshot with half the learning rate, and its
    history line says why; without the guard the same run stops there as diverged. (The
    module's settings: the programs of `whole` and of the unguarded run serve again.)"""
    import hogwild.train._fit as fit_module

    real, calls = fit_module._train_epoch, {"n": 0}

    def second_diverges(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            return None, [], "training loss is nan"
        return real(*args)

    monkeypatch.setattr(fit_module, "_train_epoch", second_diverges)
    config = dataclasses.replace(CONFIG, epochs=3)
    guarded = fit(build_model(SPEC, seed=0), DATA, config)
    losses = [r["train_loss"] for r in guarded.history]
    assert not guarded.diverged and guarded.epochs_run == 3
    assert guarded.history[1]["diverged"] == "training loss is nan"
    assert guarded.history[1]["rolled_back_to"] == 1
    assert losses[2] == losses[0] and guarded.history[-1]["rollbacks"] == 1
    scale = optax.tree_utils.tree_get(guarded.state.opt_state, "step_size")
    assert float(scale) == 0.5
    calls["n"] = 0
    plain = fit(build_model(SPEC, seed=0), DATA, dataclasses.replace(config, spike_guard=None))
    assert plain.diverged and plain.stopped.startswith("diverged at epoch 2")
