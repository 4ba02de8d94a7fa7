"""The reach study: how far a chains model carries the head's class, hop by hop."""

import math

import numpy as np

from hogwild.experiments import _reach
from hogwild.models import make_model


def test_an_explicit_gnn_reaches_exactly_its_layers():
    """GCN's node d sees the head only through L layers: s_d > 0 for d <= L, 0 beyond."""
    model = make_model("gcn", 2, 0, 1, seed=0)
    layers = model.num_layers
    got = _reach.profile(model, 3 * layers, 2, "binary")
    signal = np.asarray(got["signal"])
    assert np.all(signal[: layers + 1] > 0) and np.all(signal[layers + 1 :] == 0)
    assert got["hops_above_floor"] <= layers + 1 and got["condition"] is None


def test_decay_per_hop_is_the_geometric_ratio_down_to_the_floor():
    signal = [1.0, 0.5, 0.5 * 0.3, 0.5 * 0.3**2, 0.5 * 0.3**3, 1e-9, 0.0]
    assert math.isclose(_reach.decay_per_hop(signal), 0.3)
    assert _reach.decay_per_hop([1.0, 1e-9]) is None


def test_the_decay_kappa_allows_approaches_one_as_kappa_grows():
    bounds = [_reach.bound_per_hop(k) for k in (4.0, 100.0, 1e4, 1e8)]
    assert bounds == sorted(bounds) and 0 < bounds[0] and bounds[-1] < 1
    assert math.isclose(bounds[0], math.sqrt(1 / 3))  # (2 - 1) / (2 + 1)
    assert _reach.bound_per_hop(None) is None


def test_the_table_marks_a_run_whose_solve_did_not_converge():
    part = {"nodes_right": 3, "hops_above_floor": 4, "decay_per_hop": 0.5, "condition": 10.0}
    part |= {"bound_per_hop": 0.7}
    row = {"model": "energy-edge", "run": "r", "test": 1.0}
    good = {
        **row,
        "trained": {**part, "solve_converged": True},
        "initial": {**part, "solve_converged": True},
    }
    bad = {**good, "initial": {**part, "solve_converged": False}}
    assert "unconverged" not in _reach.reach_markdown([good])
    assert "| `r` (solve unconverged) |" in _reach.reach_markdown([bad])
    assert _reach.unconverged(good) == [] and "r (initial)" in _reach.unconverged(bad)[0]


def test_the_slowest_decay_is_kappa_for_a_contraction_and_none_for_explicit_models():
    ignn = make_model("ignn", 2, 0, 1, seed=0, options={"kappa": 0.95})
    assert _reach.slowest_decay(ignn, None) == 0.95
    assert _reach.slowest_decay(make_model("gcn", 2, 0, 1, seed=0), None) is None
    energy = make_model("energy-edge", 2, 0, 1, seed=0)
    assert _reach.slowest_decay(energy, 100.0) == _reach.bound_per_hop(100.0)
