"""Training: a short chains problem is learned; early stopping keeps the best model."""

import logging
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hogwild.tasks import ChainsConfig, make_chains
from hogwild.train import TrainConfig, eval_step, evaluate, fit, make_batch, train_run
from hogwild.train._objective import batch_sums, loss, metrics_from_sums
from hogwild.train._run import RunConfig, build_model, model_spec


def test_energy_gnn_learns_short_chains():
    """Chains of length 20: class information must travel 19 hops; ≥ 99 % test accuracy.

    In float64, where the 1e-6 tolerance on ‖∇E‖ is ten orders of magnitude above the
    rounding floor, every forward and adjoint solve must converge (in float32 a stiff
    trained energy's floor sits near the 1e-4 tolerance, so that would be luck)."""
    data = make_chains(ChainsConfig(num_graphs=20, length=20, seed=0))
    config = TrainConfig(epochs=300, patience=300, learning_rate=0.01, eval_every=20, x64=True)
    spec = model_spec(RunConfig("chains", "energy-edge", {}, config), data)
    result = fit(build_model(spec, seed=0), data, config)
    metrics = evaluate(result.model, data, config)
    assert metrics["test"]["accuracy"] >= 0.99, metrics["test"]
    for split in ("train", "validation", "test"):
        assert metrics[split]["solver"]["unconverged"] == 0, (split, metrics[split]["solver"])
    assert result.train_solver["unconverged"] == 0 and result.train_adjoint["unconverged"] == 0
    assert result.train_adjoint["max_residual"] <= 1e-10 < result.train_adjoint["mean_steps"]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] / 4


def test_metrics_match_definitions():
    data = make_chains(ChainsConfig(num_graphs=6, length=4))
    batch = make_batch(data.train, "node", dtype=np.float64)
    logits = jnp.where(jnp.arange(batch.mask.shape[0]) % 2 == 0, 3.0, -3.0)[:, None]
    labels = np.asarray(batch.targets[:, 0])[np.asarray(batch.mask)]
    predicted = (np.arange(len(labels)) % 2 == 0).astype(float)
    m = metrics_from_sums("binary", [batch_sums("binary", logits, batch)])
    assert m["error"] == pytest.approx(np.mean(predicted != labels))
    bce = np.mean(np.log1p(np.exp(-3.0 * np.where(labels == predicted, 1, -1))))
    assert m["loss"] == pytest.approx(bce) == pytest.approx(float(loss("binary", logits, batch)))


def test_regression_metric_is_relative_rmse():
    data = make_chains(ChainsConfig(num_graphs=6, length=3))
    batch = make_batch(data.train + data.test, "node", dtype=np.float64)
    targets = np.asarray(batch.targets)
    pred = jnp.asarray(targets + 0.5)
    m = metrics_from_sums("regression", [batch_sums("regression", pred, batch)])
    rms = math.sqrt(np.mean(targets[np.asarray(batch.mask)] ** 2))
    assert m["rmse"] == pytest.approx(0.5)
    assert m["relative_rmse"] == pytest.approx(0.5 / rms)


def test_train_run_writes_everything(tmp_path):
    config = RunConfig(
        "chains", "energy-node", {"num_graphs": 6, "length": 6}, TrainConfig(epochs=3, x64=True)
    )
    metrics = train_run(config, tmp_path)
    for name in ("config.json", "checkpoint.eqx", "metrics.json", "history.jsonl", "training.png"):
        assert (tmp_path / name).is_file(), name
    assert metrics["epochs_run"] == 3 and len(metrics["test"]) > 0
    assert not list(tmp_path.glob("*.tmp"))


def test_fit_interrupted_keeps_best_model(monkeypatch):
    """Ctrl-C (or SIGTERM via the CLI) ends training but loses nothing already learned."""
    import hogwild.train._fit as fit_module

    calls = {"n": 0}
    real_epoch = fit_module._train_epoch

    def epoch_then_interrupt(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_epoch(*args)

    monkeypatch.setattr(fit_module, "_train_epoch", epoch_then_interrupt)
    data = make_chains(ChainsConfig(num_graphs=6, length=5))
    config = TrainConfig(epochs=50, x64=True)
    # any family: GCN compiles fastest
    spec = model_spec(RunConfig("chains", "gcn", {}, config), data)
    result = fit(build_model(spec, seed=0), data, config)
    assert result.stopped == "interrupted during epoch 4"
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert 1 <= result.best_epoch <= 3


def test_clip_norm_scales_only_the_gradients_above_it():
    """Adam after clipping to c equals Adam fed g · min(1, c/‖g‖) itself: a small first
    gradient passes unchanged, a large second one arrives with norm exactly c."""
    import equinox as eqx
    import jax
    import optax

    from hogwild.models import make_model
    from hogwild.train._scaling import frozen_labels
    from hogwild.train._step import make_optimiser

    params = eqx.filter(make_model("energy-edge", 2, 0, 1, seed=0), eqx.is_inexact_array)
    leaves = jax.tree_util.tree_leaves(params)
    small = jax.tree_util.tree_map(lambda p: 1e-3 * jnp.ones_like(p), params)
    labels = frozen_labels(params)  # the target scale is frozen: neither clipped nor moved
    large = jax.tree_util.tree_map(
        lambda p, label: (50.0 if label == "train" else 0.0) * jnp.ones_like(p), params, labels
    )
    c = 0.5
    norm = float(optax.global_norm(large))
    assert float(optax.global_norm(small)) < c < norm and len(leaves) > 1

    def two_steps(optimiser, grads):
        state = optimiser.init(params)
        updates = []
        for g in grads:
            u, state = optimiser.update(g, state, params)
            updates.append(u)
        return updates

    clipped = two_steps(make_optimiser(0.01, 0.98, 200, 1e-4, 1, c), [small, large])
    by_hand = jax.tree_util.tree_map(lambda g: g * (c / norm), large)
    plain = two_steps(make_optimiser(0.01, 0.98, 200, 1e-4, 1), [small, by_hand])
    unclipped = two_steps(make_optimiser(0.01, 0.98, 200, 1e-4, 1), [small, large])
    for a, b in zip(jax.tree_util.tree_leaves(clipped), jax.tree_util.tree_leaves(plain)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)
    second = zip(*(jax.tree_util.tree_leaves(u[1]) for u in (clipped, unclipped)))
    assert any(not np.allclose(a, b) for a, b in second)  # clipping changed the second step


def test_coupled_weight_decay_is_an_l2_penalty_inside_adam():
    """With zero gradients, AdamW's decoupled decay moves θ by -lr·wd·θ, while the coupled
    decay (PyTorch's Adam(weight_decay)) feeds wd·θ through Adam, whose first step is
    -lr·g/(|g| + ε) with g = wd·θ (ε = 1e-8: nearly -lr·sign(θ) whatever wd is); the frozen
    target scale moves under neither."""
    import equinox as eqx

    from hogwild.models import make_model
    from hogwild.train._scaling import frozen_labels
    from hogwild.train._step import make_optimiser

    params = eqx.filter(make_model("energy-edge", 2, 0, 1, seed=0), eqx.is_inexact_array)
    labels = frozen_labels(params)
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    lr, wd = 0.01, 1e-3
    adam_first_step = lambda g: -lr * g / (jnp.abs(g) + 1e-8)  # noqa: E731
    for coupled, expected in (
        (False, lambda p: -lr * wd * p),
        (True, lambda p: adam_first_step(wd * p)),
    ):
        optimiser = make_optimiser(lr, 0.98, 200, wd, 1, coupled_decay=coupled)
        update, _ = optimiser.update(zero, optimiser.init(params), params)
        pairs = zip(*(jax.tree_util.tree_leaves(t) for t in (update, params, labels)))
        for u, p, label in pairs:
            want = expected(p) if label == "train" else jnp.zeros_like(p)
            np.testing.assert_allclose(u, want, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("model_name", ["energy-node", "ignn"])
def test_evaluation_budget_does_not_compile_a_second_program(model_name, caplog):
    """Training's validation solves and the final evaluation (same solver, a larger budget,
    `TrainConfig.eval_solver`) run one compiled program, and a larger budget is used."""
    data = make_chains(ChainsConfig(num_graphs=6, length=5, seed=0))
    config = TrainConfig(solver_max_steps=3, eval_max_steps=400)
    model = build_model(model_spec(RunConfig("chains", model_name, {}, config), data), seed=0)
    batch = make_batch(data.train, "node", dtype=np.float64)
    h0 = jnp.zeros((batch.graph.num_nodes, model.hidden))
    sizes = (data.train, [batch.graph.num_graphs], model.hidden)
    train_solver = config.solver(model.family, *sizes)
    eval_solver = config.eval_solver(model.family, *sizes)
    *_, short, _ = eval_step(model, batch, h0, "binary", train_solver)
    caplog.set_level(logging.DEBUG)
    with jax.log_compiles():
        *_, long, _ = eval_step(model, batch, h0, "binary", eval_solver)
    assert not [r for r in caplog.records if "_eval_step" in r.getMessage()]
    assert int(short.steps) <= 3 < int(long.steps)
