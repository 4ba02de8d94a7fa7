"""Benchmark: the Ray runtime against the simulator's prediction and against a local loop.

Run as ``python bench/runtime.py [--shards 4] [--model ignn]``. On a 50-node random
geometric graph (radius 0.25, seed 1), with the model freshly initialised (seed 0):

- ``sim_updates_per_node``: mean updates per node the simulator needs (S = 4, D = 3) until
  every prediction is within 1e-3 of the synchronous one;
- per loss p in 0, 10, 30 % (duplication 10 %, extra delay up to 10 ms), means over
  ``--runs`` runs (clock and fault seeds 0, 1, ...): ``ray_loss{p}_seconds`` wall time to
  agreement, ``ray_loss{p}_messages`` messages sent,
  ``ray_loss{p}_updates_per_node``, and ``ray_loss{p}_vs_sim`` = updates per node over the
  simulator's;
- ``sync_rounds`` and ``sync_messages`` of a synchronous implementation (same shards);
- ``ray_tick_ms``: wall time per shard tick with the clock period at 0 (a tick, its
  messages and the event loop), ``local_tick_ms``: the same compiled tick called in a
  plain loop, and ``ray_overhead_per_tick`` = their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time

import networkx as nx
import numpy as np
from _common import emit, load_note

from hogwild.asynchrony import Schedule, simulate
from hogwild.graph import graph_from_edges
from hogwild.models import make_model
from hogwild.runtime import Deployment, Faults, RunSettings
from hogwild.runtime._rule import padded_graph, tick
from hogwild.train import cast_model

TOL = 1e-3


def rgg(n: int = 50):
    g = nx.random_geometric_graph(n, 0.25, seed=1)
    x = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    return graph_from_edges(x, list(g.edges()))


def simulated_updates(monitor, alpha) -> float:
    """Mean updates per node of simulated runs (5 seeds) until agreement within TOL with
    the monitor's synchronous answer."""
    model, graph, n = monitor.model, monitor.graph, monitor.topology.original.num_nodes
    sync = monitor.sync[:n]
    for budget in (200, 400, 800, 1600, 3200, 6400, 12800):
        counts = []
        for seed in range(5):
            trace = simulate(model, graph, Schedule(4, 3, seed), step_size=alpha or None,
                             max_time=budget, tol=1e-12)  # fmt: skip
            pred = np.asarray(trace.predictions)[:n]
            if np.max(np.abs(pred - sync)) > TOL:
                break
            counts.append(float(np.mean(np.asarray(trace.updates)[:n])))
        if len(counts) == 5:
            return float(np.mean(counts))
    return float("nan")


def local_tick_ms(model, data, alpha, repeats: int = 300) -> float:
    graph = padded_graph(data, np.float32)
    m = graph.senders.shape[0]
    h = np.zeros((graph.num_nodes, model.hidden), np.float32)
    width = model.hidden if model.family == "optimisation" else 0
    args = (h, np.zeros((m, model.hidden), np.float32), np.zeros((m, width), np.float32),
            np.zeros(graph.num_nodes, np.int32), alpha)  # fmt: skip
    np.asarray(tick(model, graph, *args)[0])
    start = time.perf_counter()
    for _ in range(repeats):
        new, packets = tick(model, graph, *args)
        np.asarray(new), np.asarray(packets)
    return 1e3 * (time.perf_counter() - start) / repeats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--model", default="ignn")
    parser.add_argument("--runs", type=int, default=3, help="runs per loss rate (means)")
    args = parser.parse_args(argv)
    print(f"# runtime benchmark, {args.model}, {args.shards} shards; {load_note()}", flush=True)
    data = rgg()
    model = cast_model(make_model(args.model, 3, 0, 1, seed=0), np.float32)
    with Deployment(model, data, shards=args.shards) as dep:
        alpha = dep.spec["alpha"]
        sim = simulated_updates(dep.monitor, alpha)
        emit("sim_updates_per_node", sim)
        for loss in (0.0, 0.1, 0.3):
            dep.load(model, faults=Faults(loss=loss, duplicate=0.1, delay=0.01))
            runs = [dep.run(RunSettings(tol=TOL, timeout=120, seed=s)) for s in range(args.runs)]
            name, nan = f"ray_loss{int(100 * loss)}", {"time": np.nan, "messages": np.nan,
                                                       "updates": np.nan}  # fmt: skip
            reached = [r["to_agreement"] or nan for r in runs]
            per_node = np.mean([r["updates"] for r in reached]) / data.num_nodes
            emit(f"{name}_seconds", np.mean([r["time"] for r in reached]))
            emit(f"{name}_messages", np.mean([r["messages"] for r in reached]))
            emit(f"{name}_updates_per_node", per_node)
            emit(f"{name}_vs_sim", per_node / sim)
            result = runs[-1]
        emit("sync_rounds", result["synchronous"]["rounds"])
        emit("sync_messages", result["synchronous"]["messages"])
        dep.load(model, faults=Faults(), period=0.0, jitter=0.0)
        result = dep.run(RunSettings(tol=1e-9, timeout=5.0))
        ticks = sum(s["ticks"] for s in result["shards"])
        ray_ms = 1e3 * result["trace"][-1]["time"] * args.shards / max(ticks, 1)
    local = local_tick_ms(dep.monitor.model, data, alpha)
    emit("ray_tick_ms", ray_ms)
    emit("local_tick_ms", local)
    emit("ray_overhead_per_tick", ray_ms / local)
    print(f"# end {load_note()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
