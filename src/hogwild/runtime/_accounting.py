"""What a run cost, beside what a synchronous implementation would need.

Per shard: ticks, messages and bytes sent (one message per neighbouring shard per tick),
lost, duplicated, and packets accepted or ignored as stale or duplicate. Per node: its
updates, and the packets (and their bytes) it sent to other shards (a restarted shard's
nodes count from their restart).

A synchronous distributed implementation runs rounds: every node updates from its
neighbours' values of the previous round, so each round sends one message per pair of
shards that share an edge (each way) carrying one packet per edge crossing shards. Its
number of rounds is measured by iterating the same local rule synchronously (views = the
previous round's states, packets = the previous round's packets) until the predictions
are within ``tol`` of the synchronous answer.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._rule import initial_states, padded_reverse, tick

MAX_ROUNDS = 20_000


@eqx.filter_jit
def _rounds(model, graph, h, packets, layer, alpha, reverse, count: int):
    """``count`` synchronous rounds of the local rule: views = the previous round's states,
    incoming packets = the previous round's packets of the reverse edges."""

    def body(_, carry):
        h, packets, layer = carry
        new, out = tick(model, graph, h, h[graph.senders], packets[reverse], layer, alpha)
        return new, out.astype(h.dtype), layer + 1

    return jax.lax.fori_loop(0, count, body, (h, packets, layer))


@eqx.filter_jit
def _predict(model, graph, h):
    return model.readout(graph, model.output(h) if model.family == "explicit" else h)


def synchronous_rounds(monitor, alpha: float, tol: float, chunk: int = 50) -> int | None:
    """Rounds of the synchronous iteration of the local rule until every compared
    prediction is within ``tol`` of the answer (None: not within `MAX_ROUNDS`). Runs
    compiled chunks of ``chunk`` rounds, then the last chunk one round at a time."""
    model, graph = monitor.model, monitor.graph
    reverse = jnp.asarray(padded_reverse(monitor.topology.data, graph.senders.shape[0]))
    h = jnp.asarray(initial_states(model, graph))
    width = model.hidden if model.family == "optimisation" else 0
    state = (h, jnp.zeros((graph.senders.shape[0], width), h.dtype),
             jnp.zeros(graph.num_nodes, jnp.int32))  # fmt: skip
    rows = monitor.rows()

    def agrees(h) -> bool:
        pred = np.asarray(_predict(model, graph, h))
        return rows.size == 0 or bool(np.max(np.abs(pred[rows] - monitor.sync[rows])) <= tol)

    for done in range(0, MAX_ROUNDS, chunk):
        after = _rounds(model, graph, *state, alpha, reverse, chunk)
        if agrees(after[0]):
            for k in range(1, chunk + 1):
                state = _rounds(model, graph, *state, alpha, reverse, 1)
                if agrees(state[0]):
                    return done + k
        state = after
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
    n = dep.topology.original.num_nodes
    updates, packets, sent = (np.zeros(n, np.int64) for _ in range(3))
    for r in run.reports.values():
        updates[r["nodes"]] = r["updates"]
        packets[r["nodes"]], sent[r["nodes"]] = r["packets"], r["packet_bytes"]
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
        "packets_per_node": packets.tolist(),
        "bytes_per_node": sent.tolist(),
        "synchronous": {
            "rounds": rounds,
            "messages": None if rounds is None else rounds * links,
            "packets": None if rounds is None else rounds * edges,
        },
        "events": run.events,
        "trace": run.trace,
    }
