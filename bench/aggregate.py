"""Benchmark: ways to compute the aggregation y_i = Σ_{e: receivers[e]=i} w_e X[senders[e]].

Run as ``python bench/aggregate.py [--repeats 10] [--task chains ...] [--features 2 16]
[--dense-max 8192] [--x64]`` (about 20 s with the defaults on 2 CPU cores). Prints one
``name: value`` line per figure.

Setup: three padded batches (`hogwild.graph.batch_graphs`, float32 unless ``--x64``) of the
paper's graphs, all splits of a task in one batch: ``chains4000`` (40 chains of 100 nodes),
``counting<n>`` (the counting task's defaults: 50 chains of 1-50 nodes) and ``sums<n>`` (the
sums task's defaults: 2000 chains of 50 nodes), ``<n>`` being the number of real nodes. X is
random (N, F) for F in ``--features``, w random nonnegative per edge (0 on padding edges).

Variants of the same linear map y = A X, each a jitted function of (X, w, index arrays) that
builds its operator from w inside the call (as a model must when w depends on parameters):
  ``current``  ``jax.ops.segment_sum(w * X[senders], receivers)``, batch order (the models' form)
  ``sorted``   edges sorted by receiver on the host, ``segment_sum(..., indices_are_sorted=True)``
  ``sortednoflag``  the same sorted edges without the flag (locality alone)
  ``bcoo``     ``sparse.BCOO`` (receiver, sender) matrix times X, batch order
  ``bcsr``     ``sparse.BCSR`` (sorted rows) times X
  ``dense``    A as a dense N×N matrix (scatter of w) times X; only when N <= ``--dense-max``
  ``block``    one dense L×L block per graph (L the largest graph), batched matmul
Only ``current``, ``sorted`` and ``sortednoflag`` keep the models' interface (a sum over
per-edge values, which the asynchronous simulator feeds as per-edge views ``h_view``); the
matrix forms apply only to aggregations linear in h_j with per-edge coefficients (Ã).

Lines, per batch ``<b>``: ``aggregate_<b>_nodes`` / ``_edges`` (real), ``_padded_nodes`` /
``_padded_edges`` and ``aggregate_<b>_receivers_sorted`` (whether `batch_graphs` already
yields edges sorted by receiver). Per batch, F and variant ``<v>``:
``aggregate_<b>_f<F>_fwd_ms_<v>`` (median ms of y), ``aggregate_<b>_f<F>_grad_ms_<v>`` (median
ms of ``jax.grad`` of <c, y> w.r.t. X and w: the backward pass training and Hessian-vector
products run), ``..._fwd_ratio_<v>`` / ``..._grad_ratio_<v>`` (variant ms / current ms: below 1
is faster) and ``aggregate_<b>_f<F>_maxdiff_<v>`` (max abs difference from ``current`` over y,
dX and dw; dw on real edges only, since ``block`` drops padding edges, whose weight is 0).
All variants of one batch and F are timed interleaved (a, b, a, b, ...; `timed_interleaved`,
compilation excluded) so they see the same load; these are wall times on a shared machine.
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np
from _common import emit, load_note, timed_interleaved
from jax.experimental import sparse

from hogwild.graph import batch_graphs
from hogwild.tasks import ChainsConfig, make_task

TASKS = ("chains", "counting", "sums")
VARIANTS = ("current", "sorted", "sortednoflag", "bcoo", "bcsr", "dense", "block")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=10, help="timed calls per figure (default 10)")
    p.add_argument(
        "--task", action="append", choices=TASKS, help="batch to time (repeatable; default all)"
    )
    p.add_argument(
        "--features", type=int, nargs="+", default=[2, 16], help="feature sizes F (default 2 16)"
    )
    p.add_argument(
        "--dense-max", type=int, default=8192, help="largest N for the dense variant (8192)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of X, w and c (default 0)")
    p.add_argument("--x64", action="store_true", help="float64 instead of float32")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1; got {args.repeats}.")
    return args


def task_graphs(name: str):
    """All graphs (train + validation + test) of the task's default dataset."""
    config = ChainsConfig(num_graphs=40, length=100) if name == "chains" else None
    data = make_task(name, config)
    return data.train + data.validation + data.test


def _segment(sorted_flag):
    def agg(x, w, senders, receivers):
        return jax.ops.segment_sum(
            w[:, None] * x[senders],
            receivers,
            num_segments=x.shape[0],
            indices_are_sorted=sorted_flag,
        )

    return agg


def _bcoo(x, w, indices):
    n = x.shape[0]
    return sparse.BCOO((w, indices), shape=(n, n)) @ x


def _bcsr(x, w, senders, indptr):
    n = x.shape[0]
    return sparse.BCSR((w, senders, indptr), shape=(n, n)) @ x


def _dense(x, w, senders, receivers):
    n = x.shape[0]
    return jnp.zeros((n, n), w.dtype).at[receivers, senders].add(w) @ x


def _block(graphs, n):
    """Per-graph L×L blocks: (aggregate, its index arrays); w holds the real edges only."""
    sizes = np.array([g.num_nodes for g in graphs])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    count, width = len(graphs), int(sizes.max())
    local = np.arange(width)
    gather = np.where(local < sizes[:, None], offsets[:, None] + local, n)  # (G, L); n: zero row
    owner = np.repeat(np.arange(count), sizes)
    scatter = np.full(n, count * width)  # padding nodes read an appended zero row
    scatter[: sizes.sum()] = owner * width + (np.arange(sizes.sum()) - offsets[owner])
    e_graph = np.concatenate([np.full(g.num_edges, k) for k, g in enumerate(graphs)])
    e_row = np.concatenate([g.receivers for g in graphs])
    e_col = np.concatenate([g.senders for g in graphs])

    def agg(x, w, e_graph, e_row, e_col, gather, scatter):
        blocks = jnp.zeros((count, width, width), w.dtype).at[e_graph, e_row, e_col].add(w)
        xb = jnp.take(x, gather, axis=0, mode="fill", fill_value=0)
        yb = jnp.einsum("gij,gjf->gif", blocks, xb).reshape(count * width, -1)
        return jnp.concatenate([yb, jnp.zeros((1, yb.shape[1]), yb.dtype)])[scatter]

    return agg, (e_graph, e_row, e_col, gather, scatter)


def variants(graphs, batch, dense_max: int):
    """name -> (aggregate(x, w, *arrays), arrays, edge order: the batch edges w holds).

    Index arrays are passed as arguments (not closed over), as a model receives its graph,
    so XLA cannot specialise on their values."""
    senders, receivers = np.asarray(batch.senders), np.asarray(batch.receivers)
    n, m_real = batch.num_nodes, sum(g.num_edges for g in graphs)
    order = np.argsort(receivers, kind="stable")
    s_sorted, r_sorted = senders[order], receivers[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(receivers, minlength=n))])
    indptr = indptr.astype(senders.dtype)  # BCSR's CPU kernel wants matching index dtypes
    every = np.arange(len(senders))
    out = {
        "current": (_segment(False), (senders, receivers), every),
        "sorted": (_segment(True), (s_sorted, r_sorted), order),
        "sortednoflag": (_segment(False), (s_sorted, r_sorted), order),
        "bcoo": (_bcoo, (np.stack([receivers, senders], 1),), every),
        "bcsr": (_bcsr, (s_sorted, indptr), order),
    }
    if n <= dense_max:
        out["dense"] = (_dense, (senders, receivers), every)
    agg, arrays = _block(graphs, n)
    out["block"] = (agg, arrays, np.arange(m_real))
    return {k: (f, tuple(map(jnp.asarray, a)), o) for k, (f, a, o) in out.items()}


def grad_of(agg):
    """d<c, agg(x, w, ...)>/d(x, w), the backward pass of the aggregation."""
    return jax.grad(lambda x, w, c, *arrays: jnp.vdot(c, agg(x, w, *arrays)), (0, 1))


def max_diff(ref, out, order, m_real):
    """Max |out - ref| over y, dX and dw (dw mapped back to batch order, real edges)."""
    (y0, (dx0, dw0)), (y, (dx, dw)) = ref, out
    dw_batch = np.zeros_like(np.asarray(dw0))
    dw_batch[order] = np.asarray(dw)
    return max(
        float(jnp.max(jnp.abs(y - y0))),
        float(jnp.max(jnp.abs(dx - dx0))),
        float(np.max(np.abs(dw_batch[:m_real] - np.asarray(dw0)[:m_real]))),
    )


def bench_batch(label, graphs, args, dtype):
    batch = batch_graphs(graphs, dtype=dtype)
    n, m = batch.num_nodes, batch.senders.shape[0]
    m_real = sum(g.num_edges for g in graphs)
    receivers = np.asarray(batch.receivers)
    emit(f"aggregate_{label}_nodes", sum(g.num_nodes for g in graphs))
    emit(f"aggregate_{label}_edges", m_real)
    emit(f"aggregate_{label}_padded_nodes", n)
    emit(f"aggregate_{label}_padded_edges", m)
    emit(f"aggregate_{label}_receivers_sorted", bool(np.all(np.diff(receivers) >= 0)))
    table = variants(graphs, batch, args.dense_max)
    rng = np.random.default_rng(args.seed)
    w = rng.uniform(0.5, 1.5, m).astype(dtype) * np.asarray(batch.edge_mask)
    for f in args.features:
        x = jnp.asarray(rng.normal(size=(n, f)).astype(dtype))
        c = jnp.asarray(rng.normal(size=(n, f)).astype(dtype))
        calls = []
        for agg, arrays, order in table.values():
            wv = jnp.asarray(w[order])
            calls.append((jax.jit(agg), (x, wv, *arrays)))
            calls.append((jax.jit(grad_of(agg)), (x, wv, c, *arrays)))
        results = timed_interleaved(calls, args.repeats)
        ref = (results[0][1], results[1][1])
        base = {"fwd": results[0][0], "grad": results[1][0]}
        for k, (name, (_, _, order)) in enumerate(table.items()):
            fwd, grad = results[2 * k], results[2 * k + 1]
            for mode, (median, _, _) in (("fwd", fwd), ("grad", grad)):
                emit(f"aggregate_{label}_f{f}_{mode}_ms_{name}", 1e3 * median)
            for mode, (median, _, _) in (("fwd", fwd), ("grad", grad)):
                emit(f"aggregate_{label}_f{f}_{mode}_ratio_{name}", median / base[mode])
            emit(
                f"aggregate_{label}_f{f}_maxdiff_{name}",
                max_diff(ref, (fwd[1], grad[1]), order, m_real),
            )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    dtype = np.float64 if args.x64 else np.float32
    names = tuple(args.task or TASKS)
    print(
        f"# bench/aggregate.py  tasks {', '.join(names)}  F {args.features}  "
        f"repeats {args.repeats}  {'float64' if args.x64 else 'float32'}  {load_note()}",
        flush=True,
    )
    for name in names:
        graphs = task_graphs(name)
        label = f"{name}{sum(g.num_nodes for g in graphs)}"
        bench_batch(label, graphs, args, dtype)
    print(f"# end  {load_note()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
