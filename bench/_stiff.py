"""Stiff energies for ``bench/async.py``: steps to tolerance, momentum, certified steps.

Two energies, both in float64 with tolerance 1e-6 on ‖∇E‖ and schedule (S, D) = (4, 3):

- *trained*: the README quick start (energy-edge on 20 chains of length 20, lr 0.01, 400
  epochs, trained here in ~25 s into a temporary directory), on its first 10 test graphs;
- *laplacian*: GSD-GNN (γ = 1, β = 6700) on a 40-node chain and a 30-node random tree with
  3 extra edges: E = γ‖H − g(X)‖² + β tr(HᵀL̃H), condition number ≈ 9e3, all of it in the
  coupling between nodes (the case no node-local scaling can fix).

``steps_to_tol`` runs `simulate` for seeds 0..2 and returns the median steps (the budget if
a run did not converge). The largest convergent step doubles α from 1/K₁ until a run fails
to converge within the budget.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import jax.random as jr
import networkx as nx
import numpy as np

import hogwild
from hogwild.asynchrony import Schedule, certify, simulate
from hogwild.cli import main as cli
from hogwild.models._gsd import GSDGNN
from hogwild.train import cast_model, load_run, make_batch

TOL = 1e-6
SCHEDULE = Schedule(4, 3)
QUICKSTART = "--task chains --model energy-edge --length 20 --graphs 20 --lr 0.01 --epochs 400"


def trained_energy():
    """(model, graph) of the quick start's trained energy, float64, 10 test graphs."""
    out = Path(tempfile.mkdtemp(prefix="hogwild-bench-")) / "quickstart"
    if cli(["train", *QUICKSTART.split(), "--out", str(out), "--quiet"]) != 0:
        raise RuntimeError("training the quick-start energy failed")
    return run_energy(out)


def run_energy(run):
    """(model, graph) of a saved run's energy, float64, on its first 10 test graphs."""
    _, data, model = load_run(run)
    return cast_model(model, np.float64), make_batch(data.test[:10], data.level, np.float64).graph


def laplacian_energy(beta: float = 6700.0):
    """(model, graph): GSD-GNN with all its stiffness in the coupling (module docstring)."""
    rng = np.random.default_rng(0)
    chain = hogwild.graph_from_edges(rng.normal(size=(40, 2)), [(k, k + 1) for k in range(39)])
    tree = nx.random_labeled_tree(30, seed=1)
    edges = [*tree.edges(), (0, 5), (2, 9), (3, 7)]
    parts = [chain, hogwild.graph_from_edges(rng.normal(size=(30, 2)), edges)]
    graph = hogwild.batch_graphs(parts, dtype=np.float64)
    model = cast_model(GSDGNN(2, 1, gamma=1.0, beta=beta, key=jr.PRNGKey(0)), np.float64)
    return model, graph


def dense_energy(degree: int = 24, nodes: int = 60):
    """(model, graph): a fresh energy-edge model on a random ``degree``-regular graph."""
    rng = np.random.default_rng(0)
    g = nx.random_regular_graph(degree, nodes, seed=0)
    data = hogwild.graph_from_edges(
        rng.normal(size=(nodes, 2)), list(g.edges()), edges=rng.normal(size=(len(g.edges), 1))
    )
    model = cast_model(hogwild.make_model("energy-edge", 2, 1, 1, seed=0), np.float64)
    return model, hogwild.batch_graphs([data], dtype=np.float64)


def steps_to_tol(model, graph, alpha, momentum=0.0, budget=400_000, seeds=3, precondition=False):
    """Median simulated steps to ‖∇E‖ <= TOL over schedule seeds (``budget`` if not);
    ``precondition``: block-Jacobi steps."""
    steps = []
    for seed in range(seeds):
        schedule = Schedule(SCHEDULE.stagger, SCHEDULE.delay, seed)
        trace = simulate(
            model,
            graph,
            schedule,
            step_size=alpha,
            momentum=momentum,
            tol=TOL,
            max_time=budget,
            check_every=100,
            precondition=precondition,
        )
        steps.append(int(trace.steps) if bool(trace.converged) else budget)
    return statistics.median(steps)


def largest_convergent_step(model, graph, k1, budget=400_000, doublings=14):
    """(α, steps): the largest α = 2^k / K₁ (k = 0, 1, ...) whose run (seed 0) converges in
    ``budget``, and its steps to tolerance ((NaN, budget) if none does)."""
    best = (float("nan"), budget)
    for k in range(doublings):
        alpha = 2.0**k / k1
        steps = steps_to_tol(model, graph, alpha, budget=budget, seeds=1)
        if steps >= budget:
            break
        best = (alpha, steps)
    return best


def certificate(model, graph):
    return certify(model, graph, SCHEDULE)
