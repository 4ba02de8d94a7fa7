"""Benchmark: one PPI training epoch per model at the real graph sizes, time and memory.

Run as ``python bench/ppi.py [--models gcn energy-edge ...] [--batch-size K]``. No copy of
PPI is needed: a synthetic dataset with the real split sizes (20 / 2 / 2 graphs of the
data README's node counts, ~28 directed edges per node, 50 features, 121 labels) is
written in the DGL layout to a temporary directory and read through ``load_ppi``. Each
model trains one epoch in its own process (so peak memory is its own). Prints
``ppi_padding_nodes`` / ``ppi_padding_edges`` (fraction of the padded batches that is
padding), then per model ``ppi_<model>_epoch_s`` (wall seconds of one epoch, compile
included, compilation cache off) and ``ppi_<model>_peak_gb`` (peak resident memory).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TRAIN = [1767, 1377, 2263, 2339, 1578, 1021, 1823, 2488, 591, 3312,
         2401, 1878, 1819, 3480, 2794, 2326, 2650, 2815, 3163, 3021]  # fmt: skip
SIZES = {"train": TRAIN, "valid": [3230, 3284], "test": [3224, 2300]}


def write_synthetic(root: Path, seed: int = 0) -> None:
    """``root/PPI/`` in the DGL layout with the real split sizes and random content."""
    out, rng, first_id = root / "PPI", np.random.default_rng(seed), 1
    out.mkdir(parents=True)
    for split, sizes in SIZES.items():
        ids = np.repeat(np.arange(first_id, first_id + len(sizes)), sizes)
        starts = np.repeat(np.cumsum([0, *sizes[:-1]]), [14 * k for k in sizes])
        local = np.concatenate([rng.integers(0, k, (14 * k, 2)) for k in sizes])
        links = local + starts[:, None]
        graph = {"directed": False, "multigraph": False, "graph": {},
                 "nodes": [{"id": i} for i in range(len(ids))],
                 "links": [{"source": int(a), "target": int(b)} for a, b in links]}  # fmt: skip
        (out / f"{split}_graph.json").write_text(json.dumps(graph))
        np.save(out / f"{split}_feats.npy", rng.normal(size=(len(ids), 50)))
        np.save(out / f"{split}_labels.npy", (rng.random((len(ids), 121)) < 0.3).astype(np.int64))
        np.save(out / f"{split}_graph_id.npy", ids)
        first_id += len(sizes)


def one_epoch(model_name: str, batch_size: int | None) -> dict:
    """Train ``model_name`` one epoch on ``$HOGWILD_DATA/PPI``; time, memory, padding."""
    from hogwild.models import make_model
    from hogwild.tasks import make_task
    from hogwild.train import TrainConfig, fit, make_batches

    data = make_task("ppi")
    batches = make_batches(data.train, "node", batch_size)
    real_n = sum(g.num_nodes for g in data.train)
    real_m = sum(g.num_edges for g in data.train)
    model = make_model(model_name, data.in_size, data.edge_size, data.out_size)
    start = time.perf_counter()
    fit(model, data, TrainConfig(epochs=1, batch_size=batch_size, condition_every=0))
    return {
        "seconds": time.perf_counter() - start,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "padding_nodes": 1 - real_n / sum(b.graph.num_nodes for b in batches),
        "padding_edges": 1 - real_m / sum(b.graph.edges.shape[0] for b in batches),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gcn", "ignn", "gat", "energy-edge"])
    parser.add_argument("--batch-size", type=int, default=None, help="graphs per batch (all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_epoch(args.child, args.batch_size)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic(Path(tmp))
        env = {**os.environ, "HOGWILD_DATA": tmp, "HOGWILD_COMPILATION_CACHE": "0"}
        for k, name in enumerate(args.models):
            extra = [] if args.batch_size is None else ["--batch-size", str(args.batch_size)]
            done = subprocess.run([sys.executable, __file__, "--child", name, *extra], env=env,
                                  capture_output=True, text=True, check=True)  # fmt: skip
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if k == 0:
                print(f"ppi_padding_nodes: {result['padding_nodes']:.3f}")
                print(f"ppi_padding_edges: {result['padding_edges']:.3f}")
            print(f"ppi_{name}_epoch_s: {result['seconds']:.1f}")
            print(f"ppi_{name}_peak_gb: {result['peak_gb']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
