"""Benchmark: the float32 phase of mixed-precision L-BFGS solves on a saved run (issue 13).

Run as ``HOGWILD_DATA=../shared/data python bench/mixed.py RUN [--repeats 3]``, RUN a saved
run directory of an energy model (e.g. a Table 3 PROTEINS run); prints one ``name: value``
line per figure.

A float32 model's solve runs L-BFGS in float32 first and float64 finishes (``hogwild.solve.
_implicit.run``). The float32 phase stops at its tolerance, after ``NARROW_STEPS`` steps,
or — since session 39 — after ``NARROW_PATIENCE`` steps near the tolerance that did not
halve ‖∇E‖ (its rounding floor). This compares the two rules, the new one against the
phase without patience, on the run's first training batch, from two starts:

- ``cold``: H = 0.
- ``warm``: the solution for the run's parameters perturbed by 0.1 % (relative, Gaussian;
  seed 0), as the previous epoch's H* is for a training solve.

Per start and rule: ``<start>_<rule>_steps`` (float32 + float64 L-BFGS steps),
``<start>_<rule>_s`` (median wall seconds of ``--repeats`` calls, interleaved with the
other rule's, compilation excluded), ``<start>_<rule>_converged``; and
``<start>_patience_speedup``: no-patience seconds / patience seconds, side by side.

``--newton`` asks instead whether Newton (which runs wholly in float64) would gain from a
float32 phase: per start, ``<start>_newton64_{s,steps,residual}`` (the float64 solve),
``<start>_newton32_{s,steps,residual}`` (float32 Newton to 1e-4, at most 100 steps) and
``<start>_newton64_after32_{s,steps,residual}`` (float64 Newton from that answer).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from _common import emit, timed_interleaved

import hogwild.solve._implicit as implicit
from hogwild.solve import LBFGS, Newton
from hogwild.train._batch import make_batches
from hogwild.train._run import load_run


@contextlib.contextmanager
def narrow_patience(value):
    """While tracing: the float32 phase's patience is ``value`` (None: none)."""
    saved, implicit.NARROW_PATIENCE = implicit.NARROW_PATIENCE, value
    try:
        yield
    finally:
        implicit.NARROW_PATIENCE = saved


def perturbed(model, scale: float, key):
    """The model with every float parameter multiplied by (1 + scale·N(0, 1))."""
    leaves, treedef = jax.tree.flatten(eqx.filter(model, eqx.is_inexact_array))
    keys = jr.split(key, len(leaves))
    noisy = [x * (1 + scale * jr.normal(k, x.shape, x.dtype)) for x, k in zip(leaves, keys)]
    return eqx.combine(jax.tree.unflatten(treedef, noisy), model)


def solver_call():
    """A fresh compiled mixed-precision solve (one per rule: each traces its own)."""
    solver = LBFGS(None, 500, "float64")
    return eqx.filter_jit(lambda model, graph, h0: implicit.run(model, graph, h0, solver))


def newton_phases(model, graph, zeros, repeats: int) -> None:
    """Float64 Newton against float32 Newton and float64 Newton after it (``--newton``)."""
    wide = dataclasses.replace(Newton.for_graphs([graph]), precision="float64")
    narrow = dataclasses.replace(wide, precision=None, tol=1e-4)
    solves = {
        name: eqx.filter_jit(lambda m, g, h, s=s: s.solve(m, g, h))
        for name, s in (("newton64", wide), ("newton32", narrow))
    }
    warm = solves["newton64"](perturbed(model, 1e-3, jr.PRNGKey(0)), graph, zeros)[0]
    for start, h0 in (("cold", zeros), ("warm", warm)):
        timed = timed_interleaved([(solves[n], (model, graph, h0)) for n in solves], repeats)
        after = timed[1][1][0]
        timed.append(timed_interleaved([(solves["newton64"], (model, graph, after))], repeats)[0])
        for name, (seconds, (_, stats), _) in zip(
            ("newton64", "newton32", "newton64_after32"), timed
        ):
            emit(f"{start}_{name}_s", seconds)
            emit(f"{start}_{name}_steps", int(stats.steps))
            emit(f"{start}_{name}_residual", float(stats.residual))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a saved run directory of a float32 energy model")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--newton", action="store_true", help="float32 Newton phases instead")
    args = p.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    config, data, model = load_run(args.run)
    train = config.train
    graph = make_batches(data.train, data.level, train.batch_size, train.dtype)[0].graph
    emit("nodes", graph.num_nodes)
    zeros = jnp.zeros((graph.num_nodes, model.hidden), graph.nodes.dtype)
    if args.newton:
        newton_phases(model, graph, zeros, args.repeats)
        return
    rules = {"patience": implicit.NARROW_PATIENCE, "no_patience": None}
    calls = {}
    for rule, value in rules.items():
        calls[rule] = solver_call()
        with narrow_patience(value):  # traced and compiled here, under this rule
            jax.block_until_ready(calls[rule](model, graph, zeros))
    nearby = perturbed(model, 1e-3, jr.PRNGKey(0))
    warm = calls["patience"](nearby, graph, zeros).value
    for start, h0 in (("cold", zeros), ("warm", warm)):
        timed = timed_interleaved([(calls[r], (model, graph, h0)) for r in rules], args.repeats)
        for rule, (seconds, solution, _) in zip(rules, timed):
            emit(f"{start}_{rule}_steps", int(solution.stats.steps))
            emit(f"{start}_{rule}_s", seconds)
            emit(f"{start}_{rule}_converged", bool(solution.stats.converged))
        emit(f"{start}_patience_speedup", timed[1][0] / timed[0][0])


if __name__ == "__main__":
    main()
