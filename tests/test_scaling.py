"""Regression targets standardised by training-split statistics, kept with the model."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from hogwild.tasks import make_task
from hogwild.train import TrainConfig, evaluate, fit, make_batch, train_run
from hogwild.train._objective import loss
from hogwild.train._run import RunConfig, build_model, load_run, model_spec
from hogwild.train._scaling import target_scale, with_target_scale

SUMS = RunConfig("sums", "energy-edge", {"num_graphs": 12}, TrainConfig(epochs=4, x64=True))


def _data(config: RunConfig):
    return make_task(config.task, config.task_config())


def test_scale_is_training_split_mean_and_std():
    data = _data(SUMS)
    targets = np.concatenate([g.node_targets for g in data.train])
    scale = target_scale(data)
    np.testing.assert_allclose(scale.mean, targets.mean(0), rtol=1e-6)
    np.testing.assert_allclose(scale.std, targets.std(0), rtol=1e-6)
    assert float(scale.std[0]) > 1.0  # sums of up to 50 bits: far from unit scale


def test_distance_scale_is_one_spread_for_every_axis_and_no_shift():
    data = make_task("coordinates", _coordinates_config())
    scale = target_scale(data)
    assert np.all(np.asarray(scale.mean) == 0.0)
    assert np.ptp(np.asarray(scale.std)) == 0.0 and float(scale.std[0]) > 0


def _coordinates_config():
    return RunConfig("coordinates", "gcn", {"num_graphs": 6}).task_config()


def test_classification_keeps_the_identity():
    config = RunConfig("chains", "gcn", {"num_graphs": 6, "length": 5})
    scale = target_scale(_data(config))
    assert np.all(np.asarray(scale.mean) == 0.0) and np.all(np.asarray(scale.std) == 1.0)


def test_loss_is_taken_on_standardised_targets_and_predictions_in_task_units():
    data = _data(SUMS)
    model = with_target_scale(build_model(model_spec(SUMS, data), 0), target_scale(data))
    batch = make_batch(data.train, data.level, np.float64)
    h = jnp.zeros((batch.graph.num_nodes, model.hidden))
    pred = model.readout(batch.graph, h)
    mean, std = model.readout.scale.mean, model.readout.scale.std
    np.testing.assert_allclose(pred, mean + std * model.readout.standardised(batch.graph, h))
    raw = loss(data.kind, pred, batch)
    scaled = loss(data.kind, pred, batch, model.readout.scale)
    np.testing.assert_allclose(scaled, raw / std[0] ** 2, rtol=1e-10)


def test_standardisation_round_trips_through_a_checkpoint(tmp_path):
    metrics = train_run(SUMS, tmp_path)
    config, data, model = load_run(tmp_path)
    np.testing.assert_allclose(model.readout.scale.mean, target_scale(data).mean, rtol=1e-6)
    np.testing.assert_allclose(model.readout.scale.std, target_scale(data).std, rtol=1e-6)
    again = evaluate(model, data, config.train)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert again[split]["rmse"] == pytest.approx(saved[split]["rmse"], rel=1e-9)
        assert again[split]["rmse"] == pytest.approx(metrics[split]["rmse"], rel=1e-9)


def test_the_optimiser_never_moves_the_scale():
    data = _data(SUMS)
    config = TrainConfig(epochs=3, x64=True, weight_decay=0.1, learning_rate=0.05)
    result = fit(build_model(model_spec(SUMS, data), 0), data, config)
    scale = target_scale(data)
    assert np.array_equal(result.model.readout.scale.mean, scale.mean.astype(np.float64))
    assert np.array_equal(result.model.readout.scale.std, scale.std.astype(np.float64))
