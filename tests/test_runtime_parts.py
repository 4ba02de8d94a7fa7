"""Runtime parts that need no Ray: packet views, faults and events, topology, partition,
and the synchronous round count the accounting compares with."""

from __future__ import annotations

import asyncio

import networkx as nx
import numpy as np
import pytest

from hogwild.graph import graph_from_edges
from hogwild.models import make_model
from hogwild.runtime import EdgeViews, Event, Faults, Topology, parse_event, partition
from hogwild.runtime._accounting import crossing, synchronous_rounds
from hogwild.runtime._monitor import Monitor


def _views():
    return EdgeViews(np.array([0, 1, 2]), np.array([1, 0, 1]), 2, 2, np.float32)


def _packet(views, edge, inc, cnt, value, version=0):
    h = np.full((1, 2), value, np.float32)
    return views.accept(version, np.array([edge]), np.array([inc]), np.array([cnt]), h, -h)


def test_views_keep_the_newest_packet_and_ignore_stale_and_duplicate_ones():
    views = _views()
    assert _packet(views, 0, 5, 3, 1.0) == 1
    assert _packet(views, 0, 5, 3, 9.0) == 0  # duplicate
    assert _packet(views, 0, 5, 2, 9.0) == 0  # older (overtaken in flight)
    assert views.h[0].tolist() == [1.0, 1.0] and views.g[0].tolist() == [-1.0, -1.0]
    assert _packet(views, 0, 6, 0, 2.0) == 1  # restarted sender: new incarnation
    assert views.h[0].tolist() == [2.0, 2.0]
    assert _packet(views, 2, 9, 9, 3.0, version=1) == 0  # sent before a graph change
    assert (views.accepted, views.ignored) == (2, 3)


def test_a_batch_holding_a_packet_twice_keeps_the_newest():
    views = _views()
    h = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], np.float32)
    kept = views.accept(0, np.array([1, 1, 2]), np.array([1, 1, 1]), np.array([4, 7, 1]), h, h)
    assert kept == 2 and views.h[1].tolist() == [2.0, 2.0] and views.ignored == 1


def test_views_survive_a_change_of_the_edge_list():
    views = _views()
    _packet(views, 2, 1, 1, 4.0)
    moved = views.rekeyed(np.array([2, 1]), np.array([1, 2]), version=1)
    assert moved.h[0].tolist() == [4.0, 4.0] and moved.counter[1] == -1
    assert moved.version == 1 and _packet(moved, 0, 1, 2, 5.0) == 0  # old version


@pytest.mark.parametrize(
    "text, message",
    [
        ("crash:2", "cannot read event 'crash:2'"),
        ("explode:1@2", "unknown event 'explode'"),
        ("link_down:1@2", "a link_down event needs two ends"),
        ("crash:1@2:later", "`resume` must be 'zero' or 'snapshot'"),
    ],
)
def test_bad_events_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        parse_event(text)


def test_events_and_faults_parse():
    assert parse_event("link_down:0-3@1.5:2") == Event(1.5, "link_down", 0, 3, duration=2.0)
    assert parse_event("crash:1@2:snapshot").resume == "snapshot"
    with pytest.raises(ValueError, match="`loss` must be a probability"):
        Faults(loss=1.0)


def _rgg(n=50, seed=1):
    g = nx.random_geometric_graph(n, 0.25, seed=seed)
    x = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    return graph_from_edges(x, list(g.edges()), allow_no_edges=True)


def test_topology_leave_join_drop_and_add_edges():
    data = _rgg()
    topology = Topology(data)
    a, b = int(data.senders[0]), int(data.receivers[0])
    left = topology.apply("leave", a)
    assert not np.any((left.senders == a) | (left.receivers == a)) and not topology.active[a]
    assert topology.apply("join", a).num_edges == data.num_edges
    dropped = topology.apply("drop_edge", a, b)
    assert dropped.num_edges == data.num_edges - 2
    assert topology.apply("add_edge", b, a).num_edges == data.num_edges
    far = next(
        j for j in range(50) if j != a and not np.any((data.senders == a) & (data.receivers == j))
    )
    grown = topology.apply("add_edge", a, far)
    assert grown.num_edges == data.num_edges + 2 and topology.version == 5
    assert {(a, far), (far, a)} <= set(zip(grown.senders.tolist(), grown.receivers.tolist()))
    assert topology.apply("drop_edge", far, a).num_edges == data.num_edges
    with pytest.raises(ValueError, match="node 99 is not in the graph"):
        topology.apply("leave", 99)
    with pytest.raises(ValueError, match=f"no edge {a} - {far} to drop"):
        topology.apply("drop_edge", a, far)


def test_partition_is_balanced_and_keeps_neighbours_together():
    data = _rgg()
    owner = partition(data, 4)
    assert sorted(np.bincount(owner).tolist()) == [12, 12, 13, 13]
    _, across = crossing(owner, data)
    random_owner = np.random.default_rng(0).permutation(owner)
    assert across < crossing(random_owner, data)[1]  # BFS order cuts fewer edges
    with pytest.raises(ValueError, match="shards must be in 1..50"):
        partition(data, 51)


@pytest.mark.parametrize("name", ["ignn", "gcn"])
def test_synchronous_rounds_of_the_local_rule(name):
    """Explicit models need exactly their L layers; IGNN's rounds stop within tol."""
    model = make_model(name, 3, 0, 1, seed=0)
    monitor = Monitor(model, Topology(_rgg()), x64=False)
    rounds = synchronous_rounds(monitor, 0.0, 1e-3)
    if name == "gcn":
        assert rounds == model.num_layers
    else:
        assert rounds is not None and 1 < rounds < 500


def _spec(model, data, tmp_path, **extra) -> bytes:
    import pickle

    spec = {"model": model, "graph": data, "active": np.ones(data.num_nodes, bool),
            "owner": np.zeros(data.num_nodes, np.int64), "faults": Faults(), "period": 0.01,
            "jitter": 0.5, "alpha": 0.0, "dtype": np.float32, "x64": False, "seed": 0,
            "snapshot_dir": str(tmp_path), "snapshot_every": 3, "resume": "snapshot", "version": 0,
            **extra}  # fmt: skip
    return pickle.dumps(spec)


def test_one_shard_iterates_the_rule_and_resumes_from_its_snapshot(tmp_path):
    """A single shard (no Ray needed: every edge is local) runs IGNN's rule to the fixed
    point; a restart with the same arguments resumes from the snapshot it wrote."""
    from hogwild.runtime._shard import Shard
    from hogwild.train import cast_model

    data = _rgg(20, seed=3)
    model = cast_model(make_model("ignn", 3, 0, 1, seed=0), np.float32)
    shard = Shard(0, _spec(model, data, tmp_path))
    assert shard.resumed == "zero"
    for _ in range(60):
        shard._tick()
    monitor = Monitor(model, Topology(data), x64=False)
    deviation, _ = monitor.measure(shard.h[:20], np.zeros(20))
    assert deviation < 1e-3 and shard.views.ignored == 0
    restarted = Shard(0, _spec(model, data, tmp_path))
    assert restarted.resumed == "snapshot"
    assert np.array_equal(restarted.h[:20], shard.h[:20])  # 60 ticks: snapshot at 60
    # A crash ordered to resume from zero reloads without the state, snapshot or not.
    asyncio.run(restarted.load(_spec(model, data, tmp_path), keep_state=False))
    assert restarted.resumed == "zero" and not np.any(restarted.h[:20])
