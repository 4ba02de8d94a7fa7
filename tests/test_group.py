"""Many runs in one program: a group of k runs trains exactly as k separate runs."""

import dataclasses
import json

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from hogwild.cli import main
from hogwild.tasks import make_task
from hogwild.train import GroupHooks, RunConfig, TrainConfig, fit, fit_group, initial_state
from hogwild.train._run import build_model, model_spec

CONFIG = TrainConfig(epochs=10, patience=3, x64=True, learning_rate=0.01)


def _setup(model, seeds, folds=(0,)):
    """(models, datasets): one per (fold, seed), float64, chains of 10 nodes."""
    models, datasets = [], []
    for fold in folds:
        run = RunConfig("chains", model, {"length": 10, "num_graphs": 12, "seed": fold}, CONFIG)
        data = make_task("chains", run.task_config())
        for seed in seeds:
            models.append(build_model(model_spec(run, data), seed))
            datasets.append(data)
    return models, datasets


def _group(models, datasets, states=None, config=CONFIG):
    results = {}
    hooks = GroupHooks(finished=lambda i, r: results.__setitem__(i, r))
    fit_group(models, datasets, config, hooks, states=states)
    return [results[i] for i in range(len(models))]


def _flat(model):
    return jax.flatten_util.ravel_pytree(eqx.filter(model, eqx.is_inexact_array))[0]


def _assert_same_run(alone, grouped):
    assert (grouped.best_epoch, grouped.epochs_run, grouped.stopped) == (
        alone.best_epoch,
        alone.epochs_run,
        alone.stopped,
    )
    np.testing.assert_allclose(_flat(grouped.model), _flat(alone.model), rtol=1e-6, atol=1e-9)
    for a, g in zip(alone.history, grouped.history, strict=True):
        assert a["solver_steps"] == g["solver_steps"]
        np.testing.assert_allclose(g["validation_loss"], a["validation_loss"], rtol=1e-8)


@pytest.mark.parametrize("model", ["ignn", "gcn"])
def test_group_of_seeds_equals_separate_runs(model):
    """Same best epoch, stop, forward steps, validation losses and parameters as k
    separate `fit` calls (fixed point: Anderson + GMRES; explicit) — including members
    that stop early while the others go on. Energy groups (stacked on accelerators only,
    `test_energy_runs_are_never_stacked_on_a_cpu`): L-BFGS, then Newton + Cholesky, in
    `test_a_group_hands_auto_solves_to_newton_as_fit_does`."""
    models, datasets = _setup(model, seeds=range(3))
    grouped = _group(models, datasets)
    for m, d, g in zip(models, datasets, grouped):
        _assert_same_run(fit(m, d, CONFIG), g)


def test_group_of_folds_stacks_their_batches():
    """Runs on different data of the same shapes (two folds) share one program."""
    models, datasets = _setup("ignn", seeds=(0,), folds=(0, 1))
    assert datasets[0] is not datasets[1]
    grouped = _group(models, datasets)
    for m, d, g in zip(models, datasets, grouped):
        _assert_same_run(fit(m, d, CONFIG), g)


def test_a_diverging_member_stops_alone():
    """NaN parameters in one member: it stops as diverged at epoch 1 with its initial model
    kept; the other member is untouched."""
    models, datasets = _setup("gcn", seeds=(0, 1))
    broken = jax.tree.map(lambda x: x * jnp.nan if eqx.is_inexact_array(x) else x, models[1])
    grouped = _group([models[0], broken], datasets)
    assert grouped[1].diverged and grouped[1].stopped.startswith("diverged at epoch 1")
    assert grouped[1].epochs_run == 0
    assert not grouped[0].diverged
    _assert_same_run(fit(models[0], datasets[0], CONFIG), grouped[0])


def test_restacking_keeps_the_active_members_exact():
    """Three of four members stop at epoch 3 (their best loss can never improve); the group
    is re-stacked with the fourth, stacked batches included, which ends as if alone."""
    models, datasets = _setup("gcn", seeds=(0, 1), folds=(0, 1))
    states = [initial_state(m, d, CONFIG) for m, d in zip(models, datasets)]
    states = [states[0]] + [dataclasses.replace(s, best_loss=-np.inf) for s in states[1:]]
    grouped = _group(models, datasets, states)
    assert [g.epochs_run for g in grouped[1:]] == [3, 3, 3]
    assert all(g.stopped.startswith("early stop") for g in grouped[1:])
    _assert_same_run(fit(models[0], datasets[0], CONFIG), grouped[0])


def test_a_group_hands_auto_solves_to_newton_as_fit_does(monkeypatch):
    """ "auto" with the start rule forcing L-BFGS and the switch rule met at once: a group
    (energy runs are stacked on accelerators, `stacks`) trains its first epoch with
    L-BFGS's line-search loops and CG adjoints under ``vmap``, then switches to Newton as
    each separate `fit` does — same records, steps and parameters — and a group continued
    after epoch 1 stays on Newton (one factorisation per adjoint). Members on different
    folds: `test_group_of_folds_stacks_their_batches`."""
    import hogwild.solve._newton as newton_module

    monkeypatch.setattr(newton_module, "AUTO_COLUMNS", 0)
    monkeypatch.setattr(newton_module, "AUTO_SWITCH", 0)
    config = dataclasses.replace(CONFIG, epochs=2, patience=2)
    models, datasets = _setup("energy-edge", seeds=(0, 1))
    grouped = _group(models, datasets, config=config)
    for m, d, g in zip(models, datasets, grouped):
        assert [h.get("solver") for h in g.history] == ["newton", None]
        assert g.history[0]["adjoint_steps"] > 1 and g.history[1]["adjoint_steps"] == 1.0
        _assert_same_run(fit(m, d, config), g)
    first = _group(models, datasets, config=dataclasses.replace(config, epochs=1))
    resumed = _group(models, datasets, [r.state for r in first], config=config)
    assert all(r.history[1]["adjoint_steps"] == 1.0 for r in resumed)


def test_cli_seeds_trains_one_run_directory_per_seed(tmp_path, capsys):
    out = tmp_path / "seeds"
    args = ["train", "--task", "chains", "--model", "gcn", "--length", "6", "--graphs", "6"]
    assert main([*args, "--epochs", "3", "--quiet", "--seeds", "0,2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["seed-0", "seed-2"]
    seeds = [
        json.loads((out / d / "config.json").read_text())["train"]["seed"]
        for d in ("seed-0", "seed-2")
    ]
    assert seeds == [0, 2]
    assert all((out / d / "metrics.json").is_file() for d in ("seed-0", "seed-2"))
    assert "test error over 2 seeds (0, 2)" in capsys.readouterr().out
    # the same command again is refused (runs are never silently replaced)
    assert main([*args, "--epochs", "3", "--quiet", "--seeds", "0,2", "--out", str(out)]) == 2


@pytest.mark.parametrize(
    "flags",
    [
        ["--seeds", "3-1"],
        ["--seeds", "a"],
        ["--seeds", "0,0"],
        ["--seeds", "0-100"],
        ["--workers", "2"],
        ["--seeds", "0-1", "--workers", "0"],
    ],
)
def test_cli_refuses_bad_seed_lists_and_workers(tmp_path, capsys, flags):
    assert main(["train", *flags, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("--seeds" in err[0] or "--workers" in err[0])
    assert not (tmp_path / "x").exists()


def test_energy_runs_are_never_stacked_on_a_cpu():
    """The measured policy: on a CPU a stacked energy run costs more than one trained
    alone by `fit` (L-BFGS 0.48x, Newton 0.70x: `bench/train.py`), so energy runs are
    trained one by one (or in workers) whatever their solver; fixed-point and explicit
    runs are stacked."""
    from hogwild.train._runs import stacks

    assert jax.default_backend() == "cpu"
    assert not stacks("optimisation")
    assert stacks("fixed-point") and stacks("explicit")


def test_runs_are_grouped_by_family_by_default(tmp_path, monkeypatch):
    """What `train_runs` hands to training, default options (training itself replaced by
    a recorder; that a stacked member ends as it does alone is
    `test_group_of_seeds_equals_separate_runs`): energy runs one by one under either
    solver; GCN runs all in one group."""
    import hogwild.train._runs as runs_module

    groups = []
    monkeypatch.setattr(runs_module, "_train_group", lambda g, i, r, o: groups.append(list(i)))
    task = {"length": 6, "num_graphs": 6}
    for model, solver in (("energy-node", "newton"), ("energy-node", "auto"), ("gcn", "auto")):
        groups.clear()
        train = TrainConfig(epochs=2, energy_solver=solver)
        configs = [
            RunConfig("chains", model, task, dataclasses.replace(train, seed=s)) for s in range(12)
        ]
        outs = [tmp_path / f"{model}-{solver}-{s}" for s in range(12)]
        runs_module.train_runs(configs, outs)
        expected = [list(range(12))] if model == "gcn" else [[s] for s in range(12)]
        assert groups == expected


def test_runs_trained_one_by_one_are_never_vmapped(tmp_path, monkeypatch):
    """A run trained alone (`train_runs` unstacked, as `reproduce` trains energy cells)
    goes through `fit`, as `hogwild train` does, and ends exactly as `train_run`
    ends it: a vmap over one member would turn its solver loops' conds into selects
    (2.99x per epoch measured, `bench/train.py --one-run`)."""
    import hogwild.train._runs as runs_module
    from hogwild.train import RunsOptions, train_run

    def refuse(*args, **kwargs):
        raise AssertionError("a run trained alone went through fit_group")

    monkeypatch.setattr(runs_module, "fit_group", refuse)
    task = {"length": 6, "num_graphs": 6}
    train = TrainConfig(epochs=3, x64=True)
    configs = [  # IGNN: its Anderson loops too would be turned into selects by a vmap
        RunConfig("chains", "ignn", task, dataclasses.replace(train, seed=s)) for s in (0, 1)
    ]
    alone = runs_module.train_runs(
        configs, [tmp_path / "a0", tmp_path / "a1"], RunsOptions(stack=False)
    )
    for k, config in enumerate(configs):
        cli = train_run(config, tmp_path / f"cli{k}")
        assert alone[k]["test"]["loss"] == cli["test"]["loss"]
        assert alone[k]["trained_with"] == 1


def test_workers_train_groups_in_other_processes_with_the_same_result(tmp_path):
    """Two runs in two worker processes end with the metrics they reach in this one."""
    from hogwild.train import RunsOptions, train_runs

    task = {"length": 6, "num_graphs": 6}
    configs = [
        RunConfig("chains", "gcn", task, TrainConfig(epochs=3, seed=s, x64=True)) for s in (0, 1)
    ]
    finished = []
    options = RunsOptions(finished=lambda i, m: finished.append(i), stack=False)
    here = train_runs(configs, [tmp_path / "a0", tmp_path / "a1"], options)
    there = train_runs(
        configs,
        [tmp_path / "b0", tmp_path / "b1"],
        dataclasses.replace(options, workers=2),
    )
    assert sorted(finished) == [0, 0, 1, 1]
    for a, b in zip(here, there):
        assert a["test"]["loss"] == pytest.approx(b["test"]["loss"], rel=1e-12)


def test_an_interrupted_group_leaves_no_trace_of_its_last_epoch_and_resumes_exactly():
    """Ctrl-C after epoch 5's evaluation, before the epoch is closed: every member is handed
    over at epoch 4 (history, best epoch and arrays agree) and continuing from those states
    ends exactly as the uninterrupted group."""
    models, datasets = _setup("gcn", seeds=(0, 1))
    config = dataclasses.replace(CONFIG, epochs=8, patience=100)
    full = _group(models, datasets, config=config)
    handed = {}

    def interrupt(epoch, records):
        if epoch == 5:
            raise KeyboardInterrupt

    hooks = GroupHooks(finished=lambda i, r: handed.__setitem__(i, r), progress=interrupt)
    with pytest.raises(KeyboardInterrupt):
        fit_group(models, datasets, config, hooks)
    states = [handed[i].state for i in range(2)]
    assert all(handed[i].stopped == "interrupted during epoch 5" for i in range(2))
    assert all(s.epoch == 4 and s.history[-1]["epoch"] == 4 and s.best_epoch <= 4 for s in states)
    resumed = _group(models, datasets, states=states, config=config)
    for alone, again in zip(full, resumed):
        _assert_same_run(alone, again)
