"""Helpers shared by the benchmark scripts in ``bench/`` (not part of the package)."""

from __future__ import annotations

import statistics
import time

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from hogwild import batch_graphs, graph_from_edges


def chain(length: int, label: int, classes: int = 2):
    """A path of ``length`` nodes; the class one-hot sits in node 0 only, other nodes are 0.

    Node targets are the chain's class (the same label on every node).
    """
    x = np.zeros((length, classes))
    x[0, label] = 1.0
    y = np.full((length, 1), float(label))
    return graph_from_edges(x, [(i, i + 1) for i in range(length - 1)], node_targets=y)


def chain_batch(chains: int, length: int, dtype=np.float64):
    """``chains`` chains, labels alternating 0, 1, ...; returns (Graph, per-node labels)."""
    graphs = [chain(length, k % 2) for k in range(chains)]
    g = batch_graphs(graphs, dtype=dtype)
    labels = np.zeros((g.num_nodes,), dtype)
    n_real = sum(x.num_nodes for x in graphs)
    labels[:n_real] = np.concatenate([x.node_targets[:, 0] for x in graphs])
    return g, jnp.asarray(labels)


def to_dtype(tree, dtype):
    """Cast every floating array leaf of a pytree (e.g. a model) to ``dtype``."""
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, tree)


def bce_with_logits(logits, labels, mask):
    """Mean binary cross-entropy of ``logits`` vs 0/1 ``labels`` over nodes where ``mask``."""
    per = jnp.logaddexp(0.0, logits) - labels * logits  # = softplus(z) - y z
    return jnp.sum(jnp.where(mask, per, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


def flat_params(tree):
    """All floating array leaves of a pytree as one vector."""
    return jax.flatten_util.ravel_pytree(eqx.filter(tree, eqx.is_inexact_array))[0]


def rel_error(a, b):
    """‖a − b‖ / ‖b‖ of two parameter pytrees (b is the reference)."""
    fa, fb = flat_params(a), flat_params(b)
    return float(jnp.linalg.norm(fa - fb) / jnp.linalg.norm(fb))


def timed_interleaved(calls, repeats: int = 3):
    """Time several ``(fn, args)`` calls with their repeats interleaved (a, b, a, b, ...).

    On a shared machine the load drifts; interleaving exposes every function to the same
    load. Each function gets a warm-up call first (compile excluded). Returns one
    ``(median seconds, output of the last call, best seconds)`` per call.
    """
    outs = [jax.block_until_ready(fn(*args)) for fn, args in calls]
    times = [[] for _ in calls]
    for _ in range(repeats):
        for k, (fn, args) in enumerate(calls):
            t0 = time.perf_counter()
            outs[k] = jax.block_until_ready(fn(*args))
            times[k].append(time.perf_counter() - t0)
    return [(statistics.median(t), o, min(t)) for t, o in zip(times, outs)]


def compiled_memory(jitted, *args):
    """Compiled-memory summary (bytes) of an ``eqx.filter_jit`` function, or None.

    Uses XLA's static ``memory_analysis()`` of the compiled executable: temporaries plus
    arguments plus outputs (an upper-bound-ish static figure, not a measured peak RSS).
    """
    try:
        stats = jitted.lower(*args).compile().compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - optional figure, backend may not support it
        return None
    if stats is None:
        return None
    return {
        "temp": int(stats.temp_size_in_bytes),
        "argument": int(stats.argument_size_in_bytes),
        "output": int(stats.output_size_in_bytes),
    }


def emit(name: str, value) -> None:
    """Print one ``name: value`` line (the benchmarks' output format)."""
    print(f"{name}: {fmt(value)}", flush=True)


def fmt(value) -> str:
    """Compact numeric formatting for ``name: value`` lines."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if value == 0.0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


class CallCounter:
    """Counts executions of a function inside jitted code (via `jax.debug.callback`).

    Wrap an energy ``fn`` with `wrap`; every forward evaluation (also under `jax.grad`)
    increments ``count``. Adds host round-trips, so use it only in untimed runs.
    """

    def __init__(self):
        self.count = 0

    def _tick(self):
        self.count += 1

    def wrap(self, fn):
        def counted(*args):
            jax.debug.callback(self._tick)
            return fn(*args)

        return counted

    def reset(self):
        self.count = 0


def load_note() -> str:
    """'loadavg a/b/c on n cpus' for the header (timings are wall time on shared cores)."""
    import os

    try:
        a, b, c = os.getloadavg()
    except OSError:
        return "loadavg n/a"
    return f"loadavg {a:.2f}/{b:.2f}/{c:.2f} on {os.cpu_count()} cpus"
