"""The Ray runtime end to end: four shards (Ray actors) on a 50-node random geometric
graph, lossy links with duplication and reordering, a shard killed and restarted, a node
leaving. Implicit models reach the synchronous answer; GCN's answer depends on the run.

One deployment serves the module (starting Ray and its actors dominates the cost); each
test loads its model onto the same shards.
"""

from __future__ import annotations

import os

import networkx as nx
import numpy as np
import pytest

from hogwild.graph import graph_from_edges
from hogwild.models import make_model
from hogwild.tasks import CountingConfig, make_counting
from hogwild.train import TrainConfig, cast_model, fit

ray = pytest.importorskip("ray")

from hogwild.runtime import Deployment, Event, Faults, RunSettings  # noqa: E402

TOL = 1e-3
LOSSY = Faults(loss=0.3, duplicate=0.2, delay=0.02)


def _trained(name: str):
    """A model trained for a few epochs (counting, 3 input features)."""
    data = make_counting(CountingConfig(num_graphs=10, max_length=12))
    model = cast_model(make_model(name, data.in_size, data.edge_size, data.out_size), np.float32)
    return fit(model, data, TrainConfig(epochs=4, patience=4, learning_rate=0.01)).model


@pytest.fixture(scope="module")
def deployment():
    # Ray's processes inherit the environment at `ray.init`: four actors writing the same
    # compiled program into one cache at once is what crashed XLA once (conftest).
    os.environ["HOGWILD_COMPILATION_CACHE"] = "0"
    g = nx.random_geometric_graph(50, 0.25, seed=1)
    assert nx.is_connected(g)
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    data = graph_from_edges(x, list(g.edges()))
    model = _trained("ignn")
    # ... and its CPUs: this test worker is pinned to one (conftest); its Ray may use all.
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, range(os.cpu_count()))
    try:
        dep = Deployment(model, data, shards=4, faults=LOSSY)
    finally:
        os.sched_setaffinity(0, pinned)
    yield dep
    dep.close()
    os.environ["HOGWILD_COMPILATION_CACHE"] = "1"
    assert not ray.is_initialized(), "the library stops the Ray instance it started"


def _agrees(result) -> None:
    assert result["agreed"], (result["final_deviation"], result["events"])
    assert result["to_agreement"]["deviation"] <= TOL
    assert not result["diverged"]


def _faults_happened(result) -> None:
    shards = result["shards"]
    assert sum(s["lost"] for s in shards) > 0 and sum(s["duplicated"] for s in shards) > 0
    assert sum(s["ignored"] for s in shards) > 0  # duplicates and overtaken packets


@pytest.mark.parametrize("model", ["ignn", "energy-edge"])
def test_implicit_models_agree_despite_loss_and_a_crashed_shard(deployment, model):
    """IGNN trained a few epochs; the energy GNN freshly initialised (training it would
    double the test's time with compilation; `results/runtime.md` deploys trained ones)."""
    if model != "ignn":
        deployment.load(cast_model(make_model(model, 3, 0, 1), np.float32))
    crash = Event(0.3, "crash", 1)
    result = deployment.run(RunSettings(events=(crash,), tol=TOL, timeout=150))
    _agrees(result)
    _faults_happened(result)
    assert [e["event"] for e in result["events"]] == [
        "crash 1, resumes from zero",
        "shard 1 restarted from zero",
    ]
    assert result["to_agreement"]["time"] > result["events"][-1]["time"]
    sync = result["synchronous"]
    assert sync["rounds"] is not None and sync["messages"] > 0


def test_a_node_leaving_converges_to_the_new_graphs_answer(deployment):
    deployment.load(_trained("ignn"))
    before = deployment.monitor.sync.copy()
    node = 7
    result = deployment.run(RunSettings(events=(Event(0.2, "leave", node),), timeout=120))
    _agrees(result)
    others = np.delete(np.arange(50), node)
    after = deployment.monitor.sync[others]
    assert not deployment.topology.active[node] and len(result["predictions"]) == 49
    assert np.max(np.abs(before[others] - after)) > TOL  # the answer did change
    deployment.reset_graph()


def test_gcn_answers_differ_from_run_to_run(deployment):
    # Trained, so its answer depends on its inputs: a fresh GCN's predictions vary by
    # 1e-4 across nodes and stale inputs moved them by only 4e-4 to 1e-2 (measured). The
    # trained one departed from the synchronous answer by 5.4e-3 to 1.2e-2 in 4 runs.
    deployment.load(_trained("gcn"))
    first, second = (deployment.run(RunSettings(seed=s, timeout=60)) for s in (0, 1))
    spread = np.max(np.abs(np.array(first["predictions"]) - second["predictions"]))
    assert min(first["final_deviation"], second["final_deviation"]) > TOL and spread > 0
    assert all(u == 5 for u in first["updates_per_node"])  # every node ran its L layers
