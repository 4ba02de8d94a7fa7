"""Targets standardised (regression) or offset by the class prior (classification) by
training-split statistics, kept with the model."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hogwild.models import TargetScale
from hogwild.tasks import make_task
from hogwild.train import TrainConfig, evaluate, fit, make_batch, train_run
from hogwild.train._objective import loss
from hogwild.train._run import RunConfig, build_model, load_run, model_spec
from hogwild.train._scaling import target_scale, with_target_scale

SUMS = RunConfig("sums", "energy-edge", {"num_graphs": 12}, TrainConfig(epochs=4, x64=True))
SHORT_SUMS = RunConfig("sums", "energy-edge", {"num_graphs": 12, "length": 10}, SUMS.train)


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


def _labelled(kind: str, level: str, targets: list, out_size: int) -> SimpleNamespace:
    """A stand-in dataset: only what `target_scale` reads."""
    key = "graph_target" if level == "graph" else "node_targets"
    graphs = [SimpleNamespace(**{key: np.asarray(t, float)}) for t in targets]
    return SimpleNamespace(kind=kind, level=level, train=graphs, out_size=out_size)


def test_multiclass_starts_at_the_training_class_frequencies():
    labels = [0] * 2 + [1] * 5 + [2] * 3  # class 3 never occurs in training
    scale = target_scale(_labelled("multiclass", "graph", [[c] for c in labels], 4))
    p = np.asarray(jax.nn.softmax(scale.mean))
    np.testing.assert_allclose(p[:3] / p[:3].sum(), [0.2, 0.5, 0.3], rtol=1e-5)
    assert 0 < p[3] < p[0] and np.all(np.asarray(scale.std) == 1.0)
    assert abs(float(np.sum(scale.mean))) < 1e-5  # centred: softmax ignores the shift


def test_binary_and_multilabel_start_at_each_labels_positive_rate():
    rows = [[1, 0, 1], [1, 0, 0], [0, 0, 0], [1, 0, 0]]  # rates 3/4, 0, 1/4
    scale = target_scale(_labelled("multilabel", "node", [rows], 3))
    rate = np.asarray(jax.nn.sigmoid(scale.mean))
    np.testing.assert_allclose(rate[[0, 2]], [0.75, 0.25], rtol=1e-5)
    assert rate[1] == pytest.approx(0.5 / 4, rel=1e-5)  # never positive: finite, small
    binary = target_scale(_labelled("binary", "graph", [[1], [1], [0]], 1))
    assert float(jax.nn.sigmoid(binary.mean[0])) == pytest.approx(2 / 3, rel=1e-5)


def test_balanced_classes_start_at_zero_logits():
    config = RunConfig("chains", "gcn", {"num_graphs": 6, "length": 5})
    scale = target_scale(_data(config))
    assert np.all(np.asarray(scale.mean) == 0.0) and np.all(np.asarray(scale.std) == 1.0)


def test_classification_loss_is_on_the_logits_prior_included():
    config = RunConfig("chains", "gcn", {"num_graphs": 6, "length": 5})
    data = _data(config)
    scale = TargetScale(jnp.asarray([1.5]), jnp.asarray([1.0]))
    model = with_target_scale(build_model(model_spec(config, data), 0), scale)
    batch = make_batch(data.train, data.level)
    h = jnp.zeros((batch.graph.num_nodes, model.hidden))
    pred = model.readout(batch.graph, h)
    np.testing.assert_allclose(pred, 1.5 + model.readout.standardised(batch.graph, h), rtol=1e-6)
    assert loss(data.kind, pred, batch, scale) == loss(data.kind, pred, batch)


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
    """The scale lives in the readout every family shares, so GCN (cheapest to compile)
    exercises the checkpoint path of them all."""
    metrics = train_run(dataclasses.replace(SHORT_SUMS, model="gcn"), tmp_path)
    config, data, model = load_run(tmp_path)
    np.testing.assert_allclose(model.readout.scale.mean, target_scale(data).mean, rtol=1e-6)
    np.testing.assert_allclose(model.readout.scale.std, target_scale(data).std, rtol=1e-6)
    again = evaluate(model, data, config.train)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert again[split]["rmse"] == pytest.approx(saved[split]["rmse"], rel=1e-9)
        assert again[split]["rmse"] == pytest.approx(metrics[split]["rmse"], rel=1e-9)


def test_the_optimiser_never_moves_the_scale():
    """Not even weight decay: the scale is frozen in the readout every family shares (GCN,
    cheapest to compile)."""
    data, run = _data(SHORT_SUMS), dataclasses.replace(SHORT_SUMS, model="gcn")
    config = TrainConfig(epochs=3, x64=True, weight_decay=0.1, learning_rate=0.05)
    result = fit(build_model(model_spec(run, data), 0), data, config)
    scale = target_scale(data)
    assert np.array_equal(result.model.readout.scale.mean, scale.mean.astype(np.float64))
    assert np.array_equal(result.model.readout.scale.std, scale.std.astype(np.float64))
