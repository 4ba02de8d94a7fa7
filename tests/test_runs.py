"""Run directories: divergence is loud, nothing is silently replaced, killed runs resume
to the same model, interrupts during saving lose nothing."""

import json
import os
import signal
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hogwild.cli import main
from hogwild.solve._linear import conjugate_gradient, restarted_gmres
from hogwild.train import RunConfig, TrainConfig, load_run, read_header, train_run
from hogwild.train._rundir import claim_run_dir, config_differences

TINY = ["--task", "chains", "--model", "energy-node", "--length", "6", "--graphs", "6"]
TINY += ["--quiet", "--x64"]


def _train(out, *extra):
    return main(["train", *TINY, "--out", str(out), *extra])


def _leaves(model):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))]


def test_divergence_exits_nonzero_with_one_line_and_keeps_best(tmp_path, capsys):
    out = tmp_path / "diverge"
    assert _train(out, "--epochs", "50", "--lr", "1e6") == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert sum("diverged at epoch" in line for line in err) == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["diverged"] and metrics["stopped"].startswith("diverged at epoch")
    assert metrics["epochs_run"] < 50 and np.isfinite(metrics["test"]["loss"])
    _, _, model = load_run(out)  # the kept model is the best finite one
    assert all(np.all(np.isfinite(leaf)) for leaf in _leaves(model) if leaf.dtype.kind == "f")
    assert main(["train", "--out", str(out), "--resume"]) == 2  # nothing to resume


def test_existing_run_is_refused_then_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--epochs", "2") == 0
    before = (out / "config.json").read_bytes()
    (out / "evaluation.json").write_text("{}")
    (out / "async-S4-D3.json").write_text("{}")
    capsys.readouterr()
    assert _train(out, "--epochs", "3") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a run; pass --overwrite" in err[0]
    assert (out / "config.json").read_bytes() == before
    assert _train(out, "--epochs", "3", "--overwrite") == 0
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 3
    assert not (out / "evaluation.json").exists() and not (out / "async-S4-D3.json").exists()
    assert oct((out / "metrics.json").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_resume_refuses_other_options_and_finished_runs(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--epochs", "2") == 0
    capsys.readouterr()
    assert _train(out, "--epochs", "5", "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.epochs (saved 2, given 5)" in err[0]
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert "has finished (max_epochs)" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2


def test_a_run_saved_before_energy_solver_existed_means_lbfgs(tmp_path):
    """A config.json without ``energy_solver`` (written before the option existed, when
    every run used L-BFGS) loads as L-BFGS, matches its checkpoint, and an unfinished
    one resumes without options instead of being refused as "made with other options"."""
    out = tmp_path / "old"
    assert _train(out, "--epochs", "2", "--set", "energy_solver=lbfgs") == 0
    saved = json.loads((out / "config.json").read_text())
    del saved["train"]["energy_solver"]
    (out / "config.json").write_text(json.dumps(saved))
    config, _, _ = load_run(out)
    assert config.train.energy_solver == "lbfgs"
    (out / "metrics.json").unlink()  # as if killed while training
    (out / "state.eqx").unlink()
    claim_run_dir(out, RunConfig.from_json(saved).to_json(), "resume")


@pytest.mark.parametrize("option", ["spike_guard", "clip_norm", "coupled_weight_decay"])
def test_a_run_saved_before_an_option_existed_matches_its_checkpoint(tmp_path, option):
    """A config.json written before ``option`` existed, whose checkpoint was rewritten
    after it did (a run resumed across the change), loads: the option means its
    `SAVED_BEFORE` value, not a mismatch that names no difference."""
    out = tmp_path / "old"
    assert _train(out, "--epochs", "2") == 0
    saved = json.loads((out / "config.json").read_text())
    assert option in saved["train"]
    del saved["train"][option]
    (out / "config.json").write_text(json.dumps(saved))
    config, _, _ = load_run(out)
    assert getattr(config.train, option) == getattr(TrainConfig(), option)


def test_config_differences_name_an_option_missing_on_one_side():
    """An option one config lacks is a difference even where the other's value is None."""
    saved, given = {"train": {"x": 1}}, {"train": {"x": 1, "guard": None}}
    assert config_differences(saved, given) == ["train.guard (saved not set, given None)"]
    assert config_differences(given, given) == []


_KILLER = """
import os, signal, sys
import hogwild.train._run as run
real, saves = run._save_progress, [0]
def save_then_die(*args, **kwargs):
    real(*args, **kwargs)
    saves[0] += 1
    if saves[0] == 2:
        open(os.path.join(sys.argv[-1], ".checkpoint.eqx.orphan.tmp"), "wb").write(b"half")
        os.kill(os.getpid(), signal.SIGKILL)
run._save_progress = save_then_die
from hogwild.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_resume_after_sigkill_ends_with_the_uninterrupted_model(tmp_path):
    """A run SIGKILLed after its second periodic checkpoint (epoch 6 of 12), with a
    half-written temporary left behind, continues with --resume from epoch 6 and ends
    with exactly the parameters of a run that was never stopped."""
    args = ["train", *TINY, "--epochs", "12", "--checkpoint-every", "3", "--out"]
    killed = tmp_path / "killed"
    done = subprocess.run(
        [sys.executable, "-c", _KILLER, *args, str(killed)], capture_output=True, text=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert read_header(killed / "state.eqx")[0]["meta"]["epoch"] == 6
    assert not (killed / "metrics.json").exists()
    assert main(["train", "--out", str(killed), "--resume"]) == 0
    assert not list(killed.glob(".*.tmp"))
    assert main([*args, str(tmp_path / "whole")]) == 0
    resumed = json.loads((killed / "metrics.json").read_text())
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert resumed["epochs_run"] == whole["epochs_run"] == 12
    assert resumed["best_epoch"] == whole["best_epoch"]
    for a, b in zip(_leaves(load_run(killed)[2]), _leaves(load_run(tmp_path / "whole")[2])):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    history = [json.loads(x) for x in (killed / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == list(range(1, 13))


_KILLED_BEFORE_EVALUATION = """
import os, signal, sys
import hogwild.train._run as run
real = run._save_progress
def save_then_die(*args, **kwargs):
    real(*args, **kwargs)
    if kwargs.get("stopped"):  # the final save: training is over, the evaluation not yet run
        os.kill(os.getpid(), signal.SIGKILL)
run._save_progress = save_then_die
from hogwild.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_run_killed_before_its_final_evaluation_resumes_into_it(tmp_path, capsys):
    """A run SIGKILLed after its training finished and was saved but before metrics.json
    was written is not "finished, nothing to resume": --resume runs only its final
    evaluation, and its metrics equal those of a run that was never stopped."""
    args = ["train", *TINY, "--epochs", "4", "--out"]
    killed = tmp_path / "killed"
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_BEFORE_EVALUATION, *args, str(killed)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not (killed / "metrics.json").exists()
    assert read_header(killed / "state.eqx")[0]["meta"]["stopped"] == "max_epochs"
    assert main(["train", "--out", str(killed), "--resume"]) == 0
    assert "training had finished (max_epochs); running its final evaluation" in (
        capsys.readouterr().err
    )
    assert main([*args, str(tmp_path / "whole")]) == 0
    resumed = json.loads((killed / "metrics.json").read_text())
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    for key in ("epochs_run", "best_epoch", "stopped", "diverged"):
        assert resumed[key] == whole[key]
    for split in ("train", "validation", "test"):
        assert resumed[split]["loss"] == pytest.approx(whole[split]["loss"], rel=1e-9)
    assert main(["train", "--out", str(killed), "--resume"]) == 2  # now it has finished


def test_a_pending_evaluation_joins_the_runs_trained_in_workers(tmp_path, monkeypatch):
    """`train_runs` with workers: a run killed before its final evaluation is evaluated in
    this process, only the others go to the workers, and the results keep their order."""
    import hogwild.train._pool as pool_module
    from hogwild.train import RunsOptions, train_runs

    tiny = {"length": 6, "num_graphs": 6}
    configs = [
        RunConfig("chains", "energy-node", tiny, TrainConfig(epochs=2, seed=s)) for s in range(3)
    ]
    outs = [tmp_path / f"run{s}" for s in range(3)]
    first = train_runs(configs[:1], outs[:1])[0]
    (outs[0] / "metrics.json").unlink()
    sent = []

    def workers(configs, outs, modes, groups, options):
        sent.append(groups)
        return [None if i == 0 else {"trained": i} for i in range(len(configs))]

    monkeypatch.setattr(pool_module, "train_in_workers", workers)
    results = train_runs(configs, outs, RunsOptions(workers=2), modes=["resume", "new", "new"])
    assert sent == [[[1], [2]]]
    assert results[1:] == [{"trained": 1}, {"trained": 2}]
    assert results[0]["test"]["loss"] == pytest.approx(first["test"]["loss"], rel=1e-9)
    assert (outs[0] / "metrics.json").is_file()


def test_second_interrupt_while_saving_skips_evaluation_but_saves(tmp_path, monkeypatch):
    """Ctrl-C stops training; a second Ctrl-C while the run is being saved is held until
    the files are complete, and only the final evaluation is skipped."""
    import hogwild.train._fit as fit_module
    import hogwild.train._run as run_module

    real_epoch, real_save = fit_module._train_epoch, run_module._save_progress
    calls = {"epochs": 0}

    def epoch_then_interrupt(*args):
        calls["epochs"] += 1
        if calls["epochs"] == 3:
            raise KeyboardInterrupt
        return real_epoch(*args)

    def save_interrupted(*args, **kwargs):
        if kwargs.get("stopped"):
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, during the final save
        real_save(*args, **kwargs)

    monkeypatch.setattr(fit_module, "_train_epoch", epoch_then_interrupt)
    monkeypatch.setattr(run_module, "_save_progress", save_interrupted)
    config = RunConfig(
        "chains", "energy-node", {"num_graphs": 6, "length": 6}, TrainConfig(epochs=20, x64=True)
    )
    metrics = train_run(config, tmp_path / "run")
    assert metrics["stopped"] == "interrupted during epoch 3"
    assert metrics["evaluation"] == "skipped: interrupted" and "test" not in metrics
    meta = read_header(tmp_path / "run" / "state.eqx")[0]["meta"]
    assert meta["epoch"] == 2 and meta["stopped"] == "interrupted during epoch 3"
    assert load_run(tmp_path / "run")[2] is not None


def test_adjoint_non_convergence_is_counted(tmp_path):
    """An adjoint budget of 1 CG product cannot solve the backward system: every training
    step's adjoint solve is reported unconverged, in metrics.json and in the history."""
    config = RunConfig(
        "chains",
        "energy-node",
        {"num_graphs": 6, "length": 6},
        TrainConfig(epochs=2, x64=True, adjoint_max_steps=1, energy_solver="lbfgs"),
    )
    metrics = train_run(config, tmp_path / "run")
    assert metrics["train_adjoint"]["solves"] == 2
    assert metrics["train_adjoint"]["unconverged"] == 2
    assert metrics["train_adjoint"]["max_residual"] > 1e-10
    history = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [r["adjoint_unconverged"] for r in history] == [1, 1]


@pytest.mark.parametrize("solve", [conjugate_gradient, restarted_gmres])
def test_linear_solves_report_true_residual(solve):
    """Converged means ‖b − Ax‖/‖b‖ ≤ tol, measured; a too small budget says unconverged."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    a = jnp.asarray(q @ np.diag(np.geomspace(1e-2, 1e2, 40)) @ q.T)  # condition number 1e4
    b = jnp.asarray(rng.normal(size=40))
    matvec = lambda v: a @ v  # noqa: E731
    x, stats = solve(matvec, b, 1e-10, 2000)
    true = float(jnp.linalg.norm(b - a @ x) / jnp.linalg.norm(b))
    assert bool(stats.converged) and float(stats.residual) == pytest.approx(true) and true <= 1e-10
    x, stats = solve(matvec, b, 1e-10, 1)
    assert not bool(stats.converged) and float(stats.residual) > 1e-10


def test_preconditioned_cg_takes_few_products_with_a_near_inverse():
    """CG preconditioned by the inverse of a nearby matrix (what Newton's adjoint reuses:
    the factors of an iterate near H*) reaches 1e-10 in a few products where plain CG on
    the same condition number 1e4 takes dozens; with the exact inverse, one."""
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    d = np.geomspace(1e-2, 1e2, 40)
    a = q @ np.diag(d) @ q.T
    e = rng.normal(size=(40, 40))
    noise = (e + e.T) / np.linalg.norm(e + e.T, 2)  # symmetric, norm 1
    root = q @ np.diag(np.sqrt(d)) @ q.T
    near = np.linalg.inv(a + 1e-3 * root @ noise @ root)  # A^½ (I + 1e-3 N) A^½
    b = jnp.asarray(rng.normal(size=40))
    matvec = lambda v: jnp.asarray(a) @ v  # noqa: E731
    counts = {}
    for name, m in (("plain", None), ("near", near), ("exact", np.linalg.inv(a))):
        precondition = None if m is None else (lambda v, m=jnp.asarray(m): m @ v)
        x, stats = conjugate_gradient(matvec, b, 1e-10, 2000, precondition=precondition)
        assert bool(stats.converged), name
        np.testing.assert_allclose(a @ np.asarray(x), np.asarray(b), atol=1e-8)
        counts[name] = int(stats.steps)
    assert counts["exact"] == 1 and counts["near"] <= 4 < 20 < counts["plain"]
