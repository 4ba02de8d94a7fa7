"""Benchmark: the certificate on graphs with hubs, in degree groups against padded slots.

Run as ``python bench/certificate_memory.py [--nodes 3224 2300] [--degree 28]
[--max-gb 6]``. The graph: one batch of scale-free graphs (Barabási–Albert, seed 0) of
``--nodes`` nodes each and mean degree ``--degree`` — by default the sizes of PPI's test
split and its mean degree, so a few hubs of degree ~300-400, as a protein network has —,
50 node features; a fresh edge-wise energy GNN (50 inputs, 121 outputs, k = 2), float32
as `hogwild async` runs it. Each layout certifies in its own process (peak memory is its
own), once, compile included:

- ``slot_pairs_padded`` / ``slot_pairs_grouped``: the k × k blocks each layout holds per
  Hessian (n (1 + d)² against Σ_g c_g (1 + b_g)², `hogwild.asynchrony._coupling`) and
  ``slot_pairs_ratio`` (padded over grouped);
- ``<layout>_certify_s``: wall seconds of `certify`; ``<layout>_peak_gb``: peak resident
  memory of its process; ``<layout>_coupling``: K̃, to show both compute the same bound.

The padded layout is the certificate before degree groups (one group of every node at the
largest width); it is skipped (``skipped``) when its Hessians alone, 2 × pairs × k² × 4
bytes (at H* and at 0), would exceed ``--max-gb``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from _common import emit

CHILD = "--child"


def scale_free_batch(sizes, degree: int):
    """One float32 batch of Barabási–Albert graphs (``degree`` / 2 edges per new node)."""
    import networkx as nx

    from hogwild import batch_graphs, graph_from_edges

    rng, parts = np.random.default_rng(0), []
    for k, n in enumerate(sizes):
        g = nx.barabasi_albert_graph(n, degree // 2, seed=k)
        parts.append(graph_from_edges(rng.normal(size=(n, 50)), list(g.edges())))
    return batch_graphs(parts, dtype=np.float32)


def _child(layout: str, sizes, degree: int) -> None:
    import jax.numpy as jnp

    import hogwild
    from hogwild.asynchrony import _certificate
    from hogwild.models._base import NodeGroup
    from hogwild.models._registry import cast_model

    graph = scale_free_batch(sizes, degree)
    if layout == "padded":
        _certificate.degree_groups = lambda slots: (
            NodeGroup.everyone(slots.node.shape[0], slots.degree + 1),
        )
    model = hogwild.make_model("energy-edge", 50, 0, 121)
    model = cast_model(model, jnp.float32)
    start = time.perf_counter()
    cert = hogwild.asynchrony.certify(model, graph)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"seconds": seconds, "peak_gb": peak, "coupling": cert.coupling}))


def _pairs(sizes, degree: int) -> tuple[int, int]:
    from hogwild.asynchrony._coupling import degree_groups
    from hogwild.models._base import ReceiverSlots

    slots = ReceiverSlots.of(scale_free_batch(sizes, degree))
    grouped = sum(len(g.nodes) * g.width**2 for g in degree_groups(slots))
    return slots.node.shape[0] * (slots.degree + 1) ** 2, grouped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[3224, 2300])
    parser.add_argument("--degree", type=int, default=28)
    parser.add_argument("--max-gb", type=float, default=6.0)
    parser.add_argument(CHILD, default=None)
    args = parser.parse_args()
    if args.child:
        return _child(args.child, args.nodes, args.degree)
    padded, grouped = _pairs(args.nodes, args.degree)
    emit("slot_pairs_padded", padded)
    emit("slot_pairs_grouped", grouped)
    emit("slot_pairs_ratio", padded / grouped)
    for layout, pairs in (("grouped", grouped), ("padded", padded)):
        if 2 * pairs * 4 * 4 > args.max_gb * 2**30:
            emit(f"{layout}_certify_s", "skipped")
            continue
        flags = ["--nodes", *map(str, args.nodes), "--degree", str(args.degree)]
        out = subprocess.run(
            [sys.executable, __file__, CHILD, layout, *flags],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode:
            emit(f"{layout}_certify_s", f"failed ({out.stderr.strip().splitlines()[-1]})")
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        emit(f"{layout}_certify_s", result["seconds"])
        emit(f"{layout}_peak_gb", result["peak_gb"])
        emit(f"{layout}_coupling", result["coupling"])


if __name__ == "__main__":
    main()
