"""The constant predictor: its metric is the model metric of a constant prediction, and a
run no better than it is flagged."""

import jax.numpy as jnp
import numpy as np
import pytest

from hogwild import graph_from_edges
from hogwild.tasks._base import Dataset
from hogwild.train._baseline import constant_predictor, has_not_learned
from hogwild.train._batch import make_batches
from hogwild.train._objective import batch_sums, metrics_from_sums


def _path(n, node_targets=None, graph_target=None):
    x = np.ones((n, 1))
    edges = [(i, i + 1) for i in range(n - 1)]
    return graph_from_edges(x, edges, node_targets=node_targets, graph_target=graph_target)


def _dataset(kind, level, splits):
    return Dataset("toy", *splits, kind=kind, level=level, out_size=1)


def _model_metric(data, split, prediction):
    """The metric `evaluate` would report for a model that outputs ``prediction`` on
    every row of ``split``."""
    (batch,) = make_batches(data.splits()[split], data.level, dtype=np.float64)
    pred = jnp.full(batch.targets.shape, prediction, jnp.float64)
    return metrics_from_sums(data.kind, [batch_sums(data.kind, pred, batch)])


def test_regression_constant_is_the_training_mean_scored_like_a_model():
    rng = np.random.default_rng(0)
    splits = [
        [_path(n, node_targets=rng.normal(5, 2, (n, 1))) for n in sizes]
        for sizes in ((3, 4, 5), (2, 6), (4, 4))
    ]
    data = _dataset("regression", "node", splits)
    mean = np.concatenate([g.node_targets for g in splits[0]]).mean()
    constant = constant_predictor(data)
    for split in ("train", "validation", "test"):
        expected = _model_metric(data, split, mean)["relative_rmse"]
        assert constant[split] == pytest.approx(expected, rel=1e-9)
    y = np.concatenate([g.node_targets for g in splits[2]])  # by hand, once
    assert constant["test"] == pytest.approx(np.sqrt(np.mean((y - mean) ** 2) / np.mean(y**2)))


def test_classification_constant_is_the_majority_training_class():
    labels = ((1, 1, 0), (0, 0), (1, 0, 0, 0))  # train majority 1
    splits = [[_path(3, graph_target=np.array([float(c)])) for c in split] for split in labels]
    data = _dataset("binary", "graph", splits)
    constant = constant_predictor(data)
    assert constant == {"train": 1 / 3, "validation": 1.0, "test": 0.75}
    # a model whose one logit is +5 everywhere predicts class 1 on every graph
    assert constant["test"] == pytest.approx(_model_metric(data, "test", 5.0)["error"])


def test_distance_tasks_have_no_constant_reference():
    splits = [[_path(3, node_targets=np.zeros((3, 1)))] for _ in range(3)]
    assert constant_predictor(_dataset("distance", "node", splits)) is None


@pytest.mark.parametrize(("validation", "flagged"), [(0.30, False), (0.40, True), (0.45, True)])
def test_a_run_no_better_than_the_constant_predictor_is_flagged(validation, flagged):
    metrics = {
        "primary_metric": "error",
        "validation": {"error": validation},
        "constant_predictor": {"validation": 0.40},
    }
    assert has_not_learned(metrics) is flagged
    assert not has_not_learned({"primary_metric": "error", "validation": {"error": 0.9}})
