"""The counting, sums and coordinates tasks, and the ``distance`` objective."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hogwild.tasks import (
    TASKS,
    CoordinatesConfig,
    CountingConfig,
    SumsConfig,
    make_coordinates,
    make_counting,
    make_sums,
    make_task,
)
from hogwild.train import make_batch, metrics_from_sums, primary_metric
from hogwild.train._objective import MAX_PAIR_NODES, batch_sums, loss, row_losses


def _all(data):
    return data.train + data.validation + data.test


def _degrees(g):
    return np.bincount(g.receivers, minlength=g.num_nodes)


def _undirected_pairs(g):
    pairs = zip(g.senders.tolist(), g.receivers.tolist())
    return sorted({(min(a, b), max(a, b)) for a, b in pairs})


def _is_path(g):
    n = g.num_nodes
    path = [(i, i + 1) for i in range(n - 1)]
    return _undirected_pairs(g) == path and g.num_edges == 2 * (n - 1)


def _arrays(data):
    return [
        a
        for g in _all(data)
        for a in (g.nodes, g.senders, g.receivers, g.edges, g.edge_weight, g.node_targets)
    ]


# --- generators -----------------------------------------------------------------------------


def test_registry_has_the_synthetic_tasks():
    assert {"chains", "counting", "sums", "coordinates"} <= set(TASKS)
    assert TASKS["counting"] == (CountingConfig, make_counting)


def test_counting_invariants():
    config = CountingConfig(num_graphs=40, min_length=1, max_length=12, seed=3)
    data = make_counting(config)
    assert (len(data.train), len(data.validation), len(data.test)) == (24, 8, 8)
    assert (data.kind, data.level, data.out_size, data.in_size) == ("regression", "node", 1, 3)
    lengths = [g.num_nodes for g in _all(data)]
    assert min(lengths) >= 1 and max(lengths) <= 12
    assert 1 in lengths, "length 1 (no edges) occurs with this seed and is handled"
    for g in _all(data):
        assert _is_path(g)
        np.testing.assert_array_equal(g.nodes, np.eye(3)[_degrees(g)])
        assert g.node_targets.shape == (g.num_nodes, 1) and g.node_targets.dtype == np.float32
        np.testing.assert_array_equal(g.node_targets, g.num_nodes)


def test_counting_defaults_are_the_papers():
    lengths = [g.num_nodes for g in _all(make_task("counting"))]
    assert len(lengths) == 50 and min(lengths) >= 1 and max(lengths) <= 50


def test_sums_invariants():
    data = make_sums(SumsConfig(num_graphs=20, length=9, seed=1))
    assert (len(data.train), len(data.validation), len(data.test)) == (12, 4, 4)
    assert (data.kind, data.level, data.out_size, data.in_size) == ("regression", "node", 1, 1)
    totals = []
    for g in _all(data):
        assert g.num_nodes == 9 and _is_path(g)
        assert set(np.unique(g.nodes).tolist()) <= {0.0, 1.0} and g.nodes.shape == (9, 1)
        np.testing.assert_array_equal(g.node_targets, g.nodes.sum())
        totals.append(g.nodes.sum())
    assert len(set(totals)) > 1, "features differ between graphs"


@pytest.mark.parametrize(
    "name, splits, nodes",
    [
        ("counting", (30, 10, 10), None),
        ("sums", (1200, 400, 400), 50),
        ("coordinates", (900, 300, 300), 20),
    ],
)
def test_default_sizes_are_the_papers(name, splits, nodes):
    """The paper's sizes (build time is measured by ``bench/tasks.py``, not asserted)."""
    data = make_task(name)
    assert (len(data.train), len(data.validation), len(data.test)) == splits
    if nodes is not None:
        assert all(g.num_nodes == nodes for g in _all(data))
    if name == "sums":
        bits = np.concatenate([g.nodes for g in _all(data)])
        assert abs(bits.mean() - 0.5) < 0.01


def test_coordinates_invariants():
    config = CoordinatesConfig(num_graphs=15, num_nodes=12, radius=0.45, seed=2)
    data = make_coordinates(config)
    assert (len(data.train), len(data.validation), len(data.test)) == (9, 3, 3)
    assert (data.kind, data.level, data.out_size) == ("distance", "node", 2)
    assert (data.in_size, data.edge_size) == (12, 1)
    for g in _all(data):
        x = g.node_targets.astype(np.float64)
        assert x.shape == (12, 2) and np.all((x >= 0) & (x <= 1))
        np.testing.assert_array_equal(g.nodes, np.eye(12))
        dist = np.linalg.norm(x[:, None] - x[None], axis=-1)
        close = [(i, j) for i in range(12) for j in range(i + 1, 12) if dist[i, j] < 0.45]
        assert _undirected_pairs(g) == close
        np.testing.assert_allclose(g.edges[:, 0], dist[g.senders, g.receivers], rtol=1e-6)
        reach = {0}
        for _ in range(12):
            reach |= {int(j) for i, j in zip(g.senders, g.receivers) if int(i) in reach}
        assert reach == set(range(12)), "every graph is connected"


def test_coordinates_resamples_disconnected_draws():
    """With a small radius most uniform draws are disconnected; every graph still is."""
    data = make_coordinates(CoordinatesConfig(num_graphs=3, num_nodes=6, radius=0.3, seed=0))
    for g in _all(data):
        assert g.num_edges >= 2 * (g.num_nodes - 1)


def test_coordinates_impossible_radius_is_a_clear_error(monkeypatch):
    from hogwild.tasks import coordinates

    monkeypatch.setattr(coordinates, "MAX_ATTEMPTS", 50)
    with pytest.raises(ValueError, match="increase `radius`"):
        make_coordinates(CoordinatesConfig(num_graphs=3, num_nodes=30, radius=1e-3))


@pytest.mark.parametrize(
    "make, config",
    [
        (make_counting, CountingConfig(num_graphs=10, max_length=15)),
        (make_sums, SumsConfig(num_graphs=10, length=8)),
        (make_coordinates, CoordinatesConfig(num_graphs=10, num_nodes=8)),
    ],
)
def test_generators_are_deterministic_in_the_seed(make, config):
    import dataclasses

    same = zip(_arrays(make(config)), _arrays(make(config)), strict=True)
    assert all(np.array_equal(a, b) for a, b in same)
    other = make(dataclasses.replace(config, seed=config.seed + 1))
    a, b = _arrays(make(config)), _arrays(other)
    assert len(a) != len(b) or not all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b)
    )


@pytest.mark.parametrize(
    "config_cls, bad",
    [
        (CountingConfig, dict(num_graphs=2)),
        (CountingConfig, dict(min_length=0)),
        (CountingConfig, dict(max_length=4, min_length=5)),
        (CountingConfig, dict(fractions=(0.5, 0.2, 0.2))),
        (CountingConfig, dict(seed=-1)),
        (SumsConfig, dict(length=1)),
        (SumsConfig, dict(num_graphs=2.5)),
        (SumsConfig, dict(fractions=(0.6, 0.4))),
        (CoordinatesConfig, dict(num_nodes=1)),
        (CoordinatesConfig, dict(radius=0.0)),
        (CoordinatesConfig, dict(radius="big")),
        (CoordinatesConfig, dict(fractions=(1.0, 0.0, 0.0))),
    ],
)
def test_configs_reject_bad_values_naming_the_field(config_cls, bad):
    with pytest.raises(ValueError, match=f"`{list(bad)[0]}`"):
        config_cls(**bad)


def test_config_accepts_fractions_as_a_list():
    config = SumsConfig(num_graphs=10, length=3, fractions=[0.5, 0.25, 0.25])
    assert config.fractions == (0.5, 0.25, 0.25) and hash(config)
    assert len(make_sums(config).train) == 5


# --- the distance objective -----------------------------------------------------------------


def _coordinate_batch(num_graphs=2, num_nodes=6, seed=0):
    data = make_coordinates(CoordinatesConfig(num_graphs=max(3, num_graphs), num_nodes=num_nodes))
    return make_batch(_all(data)[:num_graphs], "node", dtype=np.float64)


def _transform(points, rng):
    """A random rotation or reflection plus translation, applied to every row."""
    q, _ = np.linalg.qr(rng.normal(size=(2, 2)))
    return points @ q.T + rng.normal(size=2) * 3


def test_distance_loss_is_zero_up_to_rigid_motions_and_reflections():
    batch = _coordinate_batch()
    rng = np.random.default_rng(0)
    x = np.asarray(batch.targets)
    assert float(loss("distance", jnp.asarray(x), batch)) == 0.0
    for _ in range(5):
        moved = jnp.asarray(_transform(x, rng))
        assert float(loss("distance", moved, batch)) < 1e-24
        sums = batch_sums("distance", moved, batch)
        assert metrics_from_sums("distance", [sums])["relative_rmse"] < 1e-12


def test_distance_loss_is_invariant_to_transforming_predictions():
    batch = _coordinate_batch()
    rng = np.random.default_rng(1)
    pred = rng.normal(size=batch.targets.shape)
    base = float(loss("distance", jnp.asarray(pred), batch))
    assert base > 0.01
    for _ in range(5):
        moved = float(loss("distance", jnp.asarray(_transform(pred, rng)), batch))
        assert moved == pytest.approx(base, rel=1e-10)


def test_distance_loss_matches_a_direct_pair_loop():
    batch = _coordinate_batch(num_graphs=2, num_nodes=5)
    pred = np.random.default_rng(2).normal(size=batch.targets.shape)
    x, graph_of = np.asarray(batch.targets), np.asarray(batch.graph.node_graph)
    real = np.flatnonzero(np.asarray(batch.graph.node_mask))
    errors, true_sq = [], []
    for i in real:
        for j in real:
            if i != j and graph_of[i] == graph_of[j]:
                d = np.linalg.norm(x[i] - x[j])
                errors.append((np.linalg.norm(pred[i] - pred[j]) - d) ** 2)
                true_sq.append(d**2)
    assert len(errors) == 2 * 5 * 4
    assert float(loss("distance", jnp.asarray(pred), batch)) == pytest.approx(np.mean(errors))
    metrics = metrics_from_sums("distance", [batch_sums("distance", jnp.asarray(pred), batch)])
    assert metrics["loss"] == pytest.approx(np.mean(errors))
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean(errors)))
    assert metrics["relative_rmse"] == pytest.approx(np.sqrt(np.mean(errors) / np.mean(true_sq)))
    assert primary_metric("distance") == "relative_rmse"
    rows = row_losses("distance", jnp.asarray(pred), batch.targets, batch.graph)
    assert float(jnp.sum(rows)) == pytest.approx(np.sum(errors) / 4)
    assert np.all(np.asarray(rows)[~np.asarray(batch.mask)] == 0)


def test_distance_pairs_never_cross_graphs():
    """Each graph's points, placed exactly (up to its own motion) but far from the other
    graph: zero loss. Cross-graph pairs would see the huge offset."""
    batch = _coordinate_batch(num_graphs=2)
    x = np.asarray(batch.targets).copy()
    graph_of = np.asarray(batch.graph.node_graph)
    rng = np.random.default_rng(3)
    x[graph_of == 0] = _transform(x[graph_of == 0], rng) + 100.0
    x[graph_of == 1] = _transform(x[graph_of == 1], rng) - 100.0
    x[~np.asarray(batch.mask)] = 1e6  # padding rows never count either
    assert float(loss("distance", jnp.asarray(x), batch)) < 1e-20
    sums = batch_sums("distance", jnp.asarray(x), batch)
    assert int(sums["count"]) == 2 * 6 * 5


def test_distance_gradient_is_finite_at_coincident_points():
    batch = _coordinate_batch()
    pred = np.zeros(batch.targets.shape)
    pred[1] = pred[0]  # nodes 0 and 1 (same graph) coincide; so do all the others
    grad = jax.jit(jax.grad(lambda p: loss("distance", p, batch)))(jnp.asarray(pred))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_distance_refuses_huge_batches():
    data = make_coordinates(CoordinatesConfig(num_graphs=220, num_nodes=20))
    batch = make_batch(_all(data), "node", dtype=np.float32)
    assert batch.graph.num_nodes > MAX_PAIR_NODES
    with pytest.raises(ValueError, match="batch_size"):
        loss("distance", batch.targets, batch)


def test_train_refuses_huge_distance_batches_before_writing_the_run(tmp_path, capsys):
    """`hogwild train` on coordinates with one batch of 240 training graphs (4,800 nodes)
    exits 2 with the one-line reason before the run directory holds anything, so the
    same --out can be used at once with smaller batches."""
    from hogwild.cli import main

    out = tmp_path / "run"
    args = ["train", "--task", "coordinates", "--model", "gcn", "--quiet", "--epochs", "1"]
    args += ["--set", "num_graphs=400", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "padded nodes > 4096" in err[0] and "batch_size" in err[0]
    assert not out.exists() or not any(out.iterdir())
    assert main([*args, "--set", "batch_size=100"]) == 0
