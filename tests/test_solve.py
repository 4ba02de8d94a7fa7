"""Solving H* = argmin_H E(G, H) and differentiating through the solve (Appendix C).

Compilations dominate the cost here, so every test of a variant reuses one jitted
"loss, solution and implicit gradient" function, and both test graphs (a batch of chains
and a batch of random graphs) share one padded shape.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from hogwild import LBFGS, GradientDescent, UnrolledAdjoint, minimise
from hogwild.models import parameter_spec
from hogwild.solve import ImplicitAdjoint, default_tolerance, estimate_smoothness

VARIANTS = ("node", "edge", "attention")
LBFGS_TOL = 1e-11


def _graph(graphs, kind):
    """Both kinds pad to 14 nodes, 24 edges (one edge feature) and 4 graphs: one program
    per variant serves both (`test_both_graphs_share_one_padded_shape`)."""
    if kind == "chains":
        parts = [graphs.chain(n, hot=k, edge_size=1) for k, n in enumerate((6, 7))]
    else:
        parts = [graphs.random(6, edge_size=1, extra=1), graphs.random(7, edge_size=1, extra=0)]
    return graphs.batch(parts)


def _target(graph, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(graph.num_nodes, 1)))


def _loss(model, graph, h, target):
    y = model.readout(graph, h)
    return jnp.sum((y - target) ** 2 * graph.node_mask[:, None])


@eqx.filter_jit
def _solve_and_grad(model, graph, target, h0):
    """Loss at H* (L-BFGS to ‖∇E‖ <= 1e-11), H* with its stats, and the implicit dL/dθ."""

    def loss(m):
        sol = minimise(m, graph, h0, solver=LBFGS(tol=LBFGS_TOL))
        return _loss(m, graph, sol.value, target), sol

    (value, sol), grads = eqx.filter_value_and_grad(loss, has_aux=True)(model)
    return value, sol, grads


@eqx.filter_jit
def _energy_grad(model, graph, h):
    return jax.grad(model.energy, argnums=1)(graph, h)


def _residual(model, graph, h):
    """‖∇_H E(H)‖ recomputed independently of the solver."""
    return float(jnp.linalg.norm(_energy_grad(model, graph, h)))


def _flat(tree):
    return np.asarray(ravel_pytree(eqx.filter(tree, eqx.is_inexact_array))[0])


# --- forward solves ----------------------------------------------------------------------


def test_both_graphs_share_one_padded_shape(graphs):
    """Every array of the two test graphs has the same shape, so that no test compiles a
    variant's programs twice (they did, 5 s each, once batching moved to finer buckets)."""
    chains, random = _graph(graphs, "chains"), _graph(graphs, "random")
    assert jax.tree.map(jnp.shape, chains) == jax.tree.map(jnp.shape, random)


@pytest.mark.parametrize("kind", ["chains", "random"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_lbfgs_converges(variant, kind, graphs, energy_model):
    model, graph = energy_model(variant), _graph(graphs, kind)
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    _, sol, _ = _solve_and_grad(model, graph, _target(graph), h0)
    assert bool(sol.stats.converged)
    assert 0 < int(sol.stats.steps) < 500
    assert float(sol.stats.residual) <= LBFGS_TOL < 1e-6
    residual = _residual(model, graph, sol.value)
    assert residual < 1e-6
    np.testing.assert_allclose(residual, float(sol.stats.residual), rtol=1e-3, atol=1e-13)
    # Padding nodes sit at their minimiser h = 0 (their energy is (β/2)‖h‖²).
    pad = ~np.asarray(graph.node_mask)
    np.testing.assert_allclose(np.asarray(sol.value)[pad], 0.0, atol=1e-9)


@pytest.mark.parametrize("variant", VARIANTS)
def test_lbfgs_warm_start_at_solution_takes_no_steps(variant, graphs, energy_model):
    model, graph = energy_model(variant), _graph(graphs, "chains")
    target = _target(graph)
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    _, sol, _ = _solve_and_grad(model, graph, target, h0)
    _, again, _ = _solve_and_grad(model, graph, target, sol.value)
    assert int(again.stats.steps) == 0 and bool(again.stats.converged)
    np.testing.assert_array_equal(again.value, sol.value)


@eqx.filter_jit
def _gradient_descent(model, graph, h0):
    return minimise(model, graph, h0, solver=GradientDescent(tol=1e-8, max_steps=50_000))


@pytest.mark.parametrize("kind", ["chains", "random"])
def test_gradient_descent_reaches_lbfgs_minimiser(kind, graphs, energy_model):
    model, graph = energy_model("edge"), _graph(graphs, kind)
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    gd = _gradient_descent(model, graph, h0)
    _, lb, _ = _solve_and_grad(model, graph, _target(graph), h0)
    assert bool(gd.stats.converged) and float(gd.stats.residual) <= 1e-8
    r_gd, r_lb = _residual(model, graph, gd.value), _residual(model, graph, lb.value)
    assert r_gd <= 1.01e-8
    # β-strong convexity: ‖H - H*‖ <= ‖∇E(H)‖ / β for both, so they are this close.
    distance = float(jnp.linalg.norm(gd.value - lb.value))
    assert distance <= (r_gd + r_lb) / model.beta * 1.001 + 1e-12
    assert distance < 1e-6
    # Started at its own solution, gradient descent has nothing left to do.
    again = _gradient_descent(model, graph, gd.value)
    assert int(again.stats.steps) == 0
    assert int(gd.stats.steps) > 10


def test_default_tolerances_follow_dtype():
    assert default_tolerance(jnp.float64) == 1e-6 and default_tolerance(jnp.float32) == 1e-4
    assert LBFGS().tolerance(jnp.zeros(1, jnp.float64)) == 1e-6
    assert LBFGS(tol=1e-9).tolerance(jnp.zeros(1, jnp.float64)) == 1e-9
    assert ImplicitAdjoint().tolerance(jnp.float64) == 1e-10


# --- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_implicit_gradient_matches_finite_differences(variant, graphs, energy_model):
    """dL/dθ · d from the implicit adjoint equals central differences of L(θ + εd), along
    the gradient itself, along random directions in the flattened parameter space, and
    along random directions inside each parameter group (so no group hides behind another).
    """
    model, graph = energy_model(variant), _graph(graphs, "chains")
    target = _target(graph)
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    _, sol, grads = _solve_and_grad(model, graph, target, h0)
    params, static = eqx.partition(model, parameter_spec(model))
    flat, unravel = ravel_pytree(params)
    flat = np.asarray(flat)
    g = _flat(eqx.filter(grads, parameter_spec(model)))
    assert g.shape == flat.shape and np.linalg.norm(g) > 1e-3

    rng = np.random.default_rng(1)
    directions = {
        "gradient": g,
        "random-0": rng.normal(size=g.shape),
        "random-1": rng.normal(size=g.shape),
    }
    for group in ("message", "self_message", "update", "readout", "attention"):
        if getattr(model, group) is None:
            continue
        # The gradient restricted to one group: the strongest signal within the group.
        sub = getattr(params, group)
        mask_tree = eqx.tree_at(
            lambda m: getattr(m, group),
            jax.tree_util.tree_map(jnp.zeros_like, params),
            jax.tree_util.tree_map(jnp.ones_like, sub),
        )
        directions[group] = g * np.asarray(ravel_pytree(mask_tree)[0])

    def loss_at(v):
        m = eqx.combine(unravel(jnp.asarray(v)), static)
        value, s, _ = _solve_and_grad(m, graph, target, sol.value)  # warm start
        assert bool(s.stats.converged)
        return float(value)

    # Fourth-order central differences. ε = 1e-3 balances the truncation error O(ε⁴) against
    # the solver's noise divided by ε (‖∇E‖ <= 1e-11 gives |δL| ~ 1e-12). Much larger steps
    # can cross a kink of the LeakyReLU in the attention scores, where L is not smooth.
    eps = 1e-3
    for name, d in directions.items():
        d = d / np.linalg.norm(d)
        f = {k: loss_at(flat + k * eps * d) for k in (-2, -1, 1, 2)}
        fd = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * eps)
        implicit = float(g @ d)
        assert abs(implicit) > 1e-6 * np.linalg.norm(g), name
        assert abs(fd - implicit) <= 1e-5 * abs(implicit), (name, fd, implicit)


UNROLLED_STEPS = 8000


@eqx.filter_jit
def _unrolled_grad(model, graph, target, h0):
    def loss(m):
        sol = minimise(
            m,
            graph,
            h0,
            adjoint=UnrolledAdjoint(),
            solver=GradientDescent(unrolled=True, max_steps=UNROLLED_STEPS),
        )
        return _loss(m, graph, sol.value, target), sol

    (value, sol), grads = eqx.filter_value_and_grad(loss, has_aux=True)(model)
    return value, sol, grads


def test_implicit_gradient_matches_unrolled(graphs, energy_model):
    """Backpropagating through a long, converged gradient-descent solve gives the implicit
    gradient (the derivative of the iterates converges with the iterates). One variant
    only, to keep the suite fast: the finite-difference test covers all three."""
    model, graph = energy_model("edge"), _graph(graphs, "chains")
    target = _target(graph)
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    value_i, sol_i, grads_i = _solve_and_grad(model, graph, target, h0)
    value_u, sol_u, grads_u = _unrolled_grad(model, graph, target, h0)
    assert int(sol_u.stats.steps) == UNROLLED_STEPS
    assert float(sol_u.stats.residual) < 1e-9
    assert _residual(model, graph, sol_u.value) < 1e-9
    np.testing.assert_allclose(float(value_u), float(value_i), rtol=1e-9)
    gi, gu = _flat(grads_i), _flat(grads_u)
    assert np.linalg.norm(gu) > 1e-3
    assert np.linalg.norm(gi - gu) <= 1e-4 * np.linalg.norm(gu)


@pytest.mark.parametrize("solver", [LBFGS(), GradientDescent(), GradientDescent(max_steps=5)])
def test_unrolled_adjoint_needs_unrolled_gradient_descent(solver, graphs, energy_model):
    model, graph = energy_model("edge"), _graph(graphs, "chains")
    with pytest.raises(ValueError, match=r"UnrolledAdjoint needs GradientDescent\(unrolled=True\)"):
        minimise(model, graph, solver=solver, adjoint=UnrolledAdjoint())


# --- smoothness --------------------------------------------------------------------------


@eqx.filter_jit
def _smoothness_and_hessian(model, graph, h):
    fn = lambda x: model.energy(graph, x)  # noqa: E731
    hess = jax.hessian(fn)(h).reshape(h.size, h.size)
    return estimate_smoothness(fn, h), hess


@pytest.mark.parametrize("scale", [0.0, 1.0])
def test_estimate_smoothness_is_near_largest_hessian_eigenvalue(scale, graphs, energy_model):
    """The power-iteration estimate is 1.1 × λ_max(∇²E) to within 5 %, and an upper bound."""
    model, graph = energy_model("edge"), _graph(graphs, "random")
    h = jnp.asarray(scale * np.random.default_rng(2).normal(size=(graph.num_nodes, 2)))
    estimate, hess = _smoothness_and_hessian(model, graph, h)
    hess = np.asarray(hess)
    np.testing.assert_allclose(hess, hess.T, atol=1e-10)
    eig = np.linalg.eigvalsh(hess)
    assert eig[0] >= model.beta * (1 - 1e-9)  # β-strong convexity, at this H
    assert abs(float(estimate) - 1.1 * eig[-1]) <= 0.05 * 1.1 * eig[-1], (estimate, eig[-1])
    assert float(estimate) >= eig[-1]
