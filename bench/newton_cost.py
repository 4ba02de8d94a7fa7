"""Benchmark: what one per-graph Newton step would cost on a batch of large, varied graphs.

Run as ``HOGWILD_DATA=../shared/data python bench/newton_cost.py [--task proteins]
[--model energy-edge]``; prints ``name: value`` lines, all times measured in this one
run (ratios are side by side).

`hogwild.solve.Newton` pads every graph's Hessian block to the largest graph of the
batch; on PROTEINS (largest graph 620 nodes) that is 3 × 1,024 × 1240² floats, which no
machine here holds. This script measures the best case a size-bucketed Newton could
reach, on the task's padded training batch (fold 0) and a fresh model in float64:

- ``gradient_s``: one ∇E of the whole batch (the unit of an L-BFGS step);
- ``local_hessians_over_gradient``: the model's `local_hessians` over one gradient (energy
  GNNs: by the chain rule through their messages, `hogwild.models._energy_hessian`);
- ``generic_local_hessians_over_gradient``: the generic `AbstractEnergyGNN.local_hessians`
  (k(1 + d) Hessian-vector products, d the largest in-degree) over one gradient, and
  ``structured_hessian_speedup`` the generic time over the model's;
- ``bucketed_cholesky_over_gradient``: Cholesky factorisations of one block per graph,
  each padded only to its power-of-two size bucket (random SPD blocks of those sizes),
  over one gradient;
- ``newton_step_over_gradient``: the sum, the least a Newton step costs in gradients.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import emit

from hogwild.graph import batch_graphs
from hogwild.models._base import AbstractEnergyGNN, ReceiverSlots
from hogwild.solve._precision import cast_floats
from hogwild.tasks import make_task
from hogwild.train import TrainConfig
from hogwild.train._run import RunConfig, build_model, model_spec

#: Upper edges of the graph-size buckets (nodes).
BUCKETS = (16, 32, 64, 128, 256, 512, 1024)


def seconds(fn, *args, repeats: int = 2) -> float:
    """Mean wall time of ``fn(*args)`` after one compiling call."""
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn(*args))
    return (time.perf_counter() - start) / repeats


def bucketed_cholesky_s(sizes: np.ndarray, hidden: int) -> float:
    """Seconds to factorise one SPD block per graph, padded to its size bucket."""
    total, lower = 0.0, 0
    for upper in BUCKETS:
        count = int(((sizes > lower) & (sizes <= upper)).sum())
        lower = upper
        if count:
            w = upper * hidden
            a = jax.random.normal(jax.random.PRNGKey(0), (count, w, w))
            spd = a @ jnp.swapaxes(a, 1, 2) + w * jnp.eye(w)
            total += seconds(jax.jit(jnp.linalg.cholesky), spd)
    return total


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="proteins")
    p.add_argument("--model", default="energy-edge")
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    fold = "fold" if args.task in ("mutag", "proteins") else "seed"
    config = RunConfig(args.task, args.model, {fold: 0}, TrainConfig())
    data = make_task(args.task, config.task_config())
    model = cast_floats(build_model(model_spec(config, data), seed=0), jnp.float64)
    graph = batch_graphs(list(data.train), dtype=np.float64)
    prepared, slots = model.prepare(graph), ReceiverSlots.of(graph)
    h = jnp.full((graph.num_nodes, model.hidden), 0.1)
    gradient = seconds(jax.jit(jax.grad(lambda h: model.energy(graph, h, prepared))), h, repeats=5)
    hessians = seconds(
        jax.jit(lambda h: model.local_hessians(graph, h, h[graph.senders], slots, prepared)), h
    )
    generic = seconds(
        jax.jit(
            lambda h: AbstractEnergyGNN.local_hessians(
                model, graph, h, h[graph.senders], slots, prepared
            )
        ),
        h,
    )
    sizes = np.array([g.num_nodes for g in data.train])
    cholesky = bucketed_cholesky_s(sizes, model.hidden)
    emit("graphs", len(sizes))
    emit("largest_in_degree", slots.degree)
    emit("gradient_s", gradient)
    emit("local_hessians_over_gradient", hessians / gradient)
    emit("generic_local_hessians_over_gradient", generic / gradient)
    emit("structured_hessian_speedup", generic / hessians)
    emit("bucketed_cholesky_over_gradient", cholesky / gradient)
    emit("newton_step_over_gradient", (hessians + cholesky) / gradient)


if __name__ == "__main__":
    main()
