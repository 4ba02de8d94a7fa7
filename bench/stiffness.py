"""Benchmark: where a trained energy's stiffness lives, and what node-local scaling can do.

Run as ``python bench/stiffness.py [RUN] [--graphs 2]`` (RUN defaults to the stiffest
trained energy kept in the repository, ``results/instances/counting/energy-attention``);
prints one ``name: value`` line per figure. Float64, dense Hessian ∇²E(H*) of the run's
first ``--graphs`` test graphs at the synchronous minimiser H* (real nodes only).

A node-local scaled step h_i ← h_i − α D_i⁻¹ ∂E/∂h_i converges at the rate set by the
spectrum of D^{-1/2} ∇²E D^{-1/2}; plain steps α = 1/K₁ at the rate μ/K₁. The scalings:

- ``block_jacobi``: D_i = ∂²E/∂h_i², the node's own k × k curvature block (what
  `simulate(precondition=True)` uses);
- ``row_sum``: D_i = Σ_j ‖∂²E/∂h_i∂h_j‖₂ I, each node's Gershgorin row sum of block norms
  (the largest node-local diagonal step that is safe synchronously: the scaled
  Hessian's eigenvalues are then ≤ 1).

Figures:

- ``nodes``, ``smoothness`` K₁, ``strong_convexity`` μ, ``condition`` K₁/μ;
- ``<scaling>_condition``: condition number of the scaled Hessian;
- ``<scaling>_rate_over_plain``: (λ_min/λ_max of the scaled Hessian) / (μ/K₁), the
  asymptotic speedup of the scaled step at its largest stable synchronous step over plain
  steps at 1/K₁ (an upper bound under staleness, which only shrinks safe steps);
- ``row_sum_spread``: largest / smallest node row sum (1: curvature spread evenly, where
  no diagonal scaling can help);
- ``own_block_share_median``: median over nodes of ‖own block‖ / row sum (the part of a
  node's curvature block-Jacobi sees);
- ``slow_mode_nodes``: participation ratio of the slowest eigenvector over nodes,
  (Σ_i ‖v_i‖²)² / Σ_i ‖v_i‖⁴ (the number of nodes it spreads over; a global mode spans all).
"""

from __future__ import annotations

import argparse

import jax
import numpy as np
from _common import emit

DEFAULT_RUN = "results/instances/counting/energy-attention"


def hessian_at_minimiser(run: str, graphs: int):
    """(∇²E(H*) on real nodes, hidden size k), float64."""
    from hogwild.solve import embed
    from hogwild.train import cast_model, load_run, make_batch

    jax.config.update("jax_enable_x64", True)
    config, data, model = load_run(run)
    model = cast_model(model, np.float64)
    batch = make_batch(data.test[:graphs], data.level, np.float64)
    graph = batch.graph
    config.train.enable_precision(model.family)
    solver = config.train.eval_solver(model.family, [graph], [graph.num_graphs], model.hidden)
    h = embed(model, graph, solver=solver).value
    n, k = h.shape
    prepared = model.prepare(graph)
    flat = jax.hessian(lambda x: model.energy(graph, x.reshape(n, k), prepared))(h.reshape(-1))
    real = np.repeat(np.asarray(graph.node_mask), k)
    return np.asarray(flat)[np.ix_(real, real)], k


def block_norms(hessian, k: int):
    """‖∂²E/∂h_i∂h_j‖₂ for every pair of nodes."""
    m = hessian.shape[0] // k
    blocks = hessian.reshape(m, k, m, k).transpose(0, 2, 1, 3)
    return np.linalg.norm(blocks, ord=2, axis=(2, 3))


def scaled_extremes(hessian, inverse_root):
    """(λ_min, λ_max) of S H S for the symmetric scaling S = ``inverse_root``."""
    values = np.linalg.eigvalsh(inverse_root @ hessian @ inverse_root)
    return values[0], values[-1]


def block_inverse_root(hessian, k: int):
    """Block-diagonal P^{-1/2}, P the own k × k curvature blocks."""
    m = hessian.shape[0] // k
    out = np.zeros_like(hessian)
    for i in range(m):
        s = slice(i * k, (i + 1) * k)
        values, vectors = np.linalg.eigh(hessian[s, s])
        out[s, s] = vectors @ np.diag(values**-0.5) @ vectors.T
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default=DEFAULT_RUN)
    parser.add_argument("--graphs", type=int, default=2)
    args = parser.parse_args()
    hessian, k = hessian_at_minimiser(args.run, args.graphs)
    values = np.linalg.eigvalsh(hessian)
    mu, smooth = values[0], values[-1]
    norms = block_norms(hessian, k)
    rows = norms.sum(axis=1)
    emit("nodes", hessian.shape[0] // k)
    emit("smoothness", smooth)
    emit("strong_convexity", mu)
    emit("condition", smooth / mu)
    plain_rate = mu / smooth
    scalings = {
        "block_jacobi": block_inverse_root(hessian, k),
        "row_sum": np.diag(np.repeat(rows, k) ** -0.5),
    }
    for name, root in scalings.items():
        low, high = scaled_extremes(hessian, root)
        emit(f"{name}_condition", high / low)
        emit(f"{name}_rate_over_plain", (low / high) / plain_rate)
    emit("row_sum_spread", rows.max() / rows.min())
    emit("own_block_share_median", np.median(np.diag(norms) / rows))
    slowest = np.linalg.eigh(hessian)[1][:, 0].reshape(-1, k)
    weight = np.sum(slowest**2, axis=1)
    emit("slow_mode_nodes", weight.sum() ** 2 / np.sum(weight**2))


if __name__ == "__main__":
    main()
