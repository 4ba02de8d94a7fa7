"""What a run cost, beside what a synchronous implementation would need.

A synchronous distributed implementation runs rounds: every node updates from its
neighbours' values of the previous round, so each round sends one message per pair of
shards that share an edge (each way) carrying one packet per edge crossing shards. Its
number of rounds is measured by iterating the same local rule synchronously (views = the
previous round's states, packets = the previous round's packets) until the predictions
are within ``tol`` of the synchronous answer.
"""

from __future__ import annotations

import numpy as np

from ._rule import padded_reverse, tick

MAX_ROUNDS = 20_000


def synchronous_rounds(monitor, alpha: float, tol: float) -> int | None:
    """Rounds of the synchronous iteration of the local rule until every compared
    prediction is within ``tol`` of the answer (None: not within `MAX_ROUNDS`)."""
    model, graph = monitor.model, monitor.graph
    data = monitor.topology.data
    reverse = padded_reverse(data, graph.senders.shape[0])
    senders = np.asarray(graph.senders)
    from ._rule import initial_states

    h = initial_states(model, graph)
    packets = np.zeros((len(senders), model.hidden if model.family == "optimisation" else 0))
    layer = np.zeros(graph.num_nodes, np.int32)
    rows = monitor.rows()
    for rounds in range(1, MAX_ROUNDS + 1):
        new, out = tick(model, graph, h, h[senders], packets[reverse].astype(h.dtype), layer, alpha)
        h, packets, layer = np.asarray(new), np.asarray(out), layer + 1
        pred = np.asarray(model.readout(graph, h))
        if rows.size == 0 or np.max(np.abs(pred[rows] - monitor.sync[rows])) <= tol:
            return rounds
    return None


def crossing(owner: np.ndarray, data) -> tuple[int, int]:
    """(ordered pairs of shards sharing an edge, directed edges between shards)."""
    a, b = owner[data.senders], owner[data.receivers]
    across = a != b
    return len(set(zip(a[across].tolist(), b[across].tolist()))), int(across.sum())


def summary(run, agreed_at: dict | None) -> dict:
    """The result of a `Run`: agreement, trace, events, per-shard and per-node accounting,
    and the synchronous comparison."""
    dep = run.dep
    shards = []
    for k in range(dep.shards):
        r, carried = run.reports.get(k, {}), run.carried[k]
        shards.append(
            {
                "shard": k,
                "nodes": int(np.sum(dep.owner == k)),
                "ticks": carried["ticks"] + r.get("ticks", 0),
                "messages": carried["messages"] + r.get("messages", 0),
                "bytes": carried["bytes"] + r.get("bytes", 0),
                **{key: r.get(key, 0) for key in ("lost", "duplicated", "accepted", "ignored")},
            }
        )
    updates = np.zeros(dep.topology.original.num_nodes, np.int64)
    for r in run.reports.values():
        updates[r["nodes"]] = r["updates"]
    links, edges = crossing(dep.owner, dep.topology.data)
    rounds = synchronous_rounds(dep.monitor, dep.spec["alpha"], run.settings.tol)
    last = run.trace[-1] if run.trace else {}
    return {
        "model": type(dep.monitor.model).__name__,
        "family": dep.monitor.model.family,
        "shards": shards,
        "nodes": int(dep.topology.original.num_nodes),
        "step_size": dep.spec["alpha"],
        "faults": vars(dep.spec["faults"]),
        "tol": run.settings.tol,
        "agreed": agreed_at is not None,
        "diverged": run.diverged,
        "to_agreement": agreed_at,
        "final_deviation": last.get("deviation"),
        "predictions": dep.monitor.predictions(run._assemble()[0]).tolist() if run.reports else [],
        "synchronous_predictions": dep.monitor.sync[dep.monitor.rows()].tolist(),
        "updates_per_node": updates.tolist(),
        "synchronous": {
            "rounds": rounds,
            "messages": None if rounds is None else rounds * links,
            "packets": None if rounds is None else rounds * edges,
        },
        "events": run.events,
        "trace": run.trace,
    }
