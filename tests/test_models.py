"""IGNN, GSD-GNN, GCN and GAT (Appendix A, Eq. 7 and 17–21) against dense numpy
references; the guarantees their families rest on (λ_max(Ã) = 1, the l1-ball projection
that keeps IGNN a κ-contraction, GSD-GNN's closed form, implicit gradients); and the
local-rule contract every registered model shares.

References are computed in numpy from edge lists, never from the model's own `Ã`.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hogwild
from hogwild.models import (
    LAMBDA_MAX,
    RenormalisedAdjacency,
    parameter_spec,
    project_rows_to_l1_ball,
)
from hogwild.solve import LBFGS, Anderson, ImplicitAdjoint, Picard
from hogwild.tasks import ChainsConfig, make_chains
from hogwild.train import TrainConfig, loss, make_batch, train_step
from hogwild.train._step import make_optimiser

# A triangle 1-2-3 with a pendant node 0; degrees with self-loops d̃ = (2, 4, 3, 3).
HAND_PAIRS = [(0, 1), (1, 2), (2, 3), (1, 3)]
HAND_X = np.array([[1.0, -0.5, 0.25], [0.0, 2.0, -1.0], [-1.5, 0.5, 0.75], [0.5, 1.0, 2.0]])
EPS = 1e-6


def _f64(model):
    return jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model
    )


def _hand_graph():
    return hogwild.batch_graphs([hogwild.graph_from_edges(HAND_X, HAND_PAIRS)], dtype=np.float64)


def _a_tilde(n, senders, receivers, weight=None):
    """D̃^{-1/2}(A + I)D̃^{-1/2} in numpy, A_ij = weight of edge j -> i, d̃_i = 1 + Σ_j A_ij."""
    a = np.zeros((n, n))
    np.add.at(a, (np.asarray(receivers), np.asarray(senders)), 1.0 if weight is None else weight)
    d = 1.0 + a.sum(1)
    return (a + np.eye(n)) / np.sqrt(np.outer(d, d))


def _hand_a_tilde():
    a = np.zeros((4, 4))
    for j, i in HAND_PAIRS:
        a[i, j] = a[j, i] = 1.0
    d = 1.0 + a.sum(1)
    np.testing.assert_array_equal(d, [2, 4, 3, 3])  # counted by hand
    return np.diag(d**-0.5) @ (a + np.eye(4)) @ np.diag(d**-0.5)


def _parts_a_tilde(parts):
    """Ã of the real nodes of a batch of `GraphData` (block diagonal), in numpy."""
    offsets = np.cumsum([0] + [p.num_nodes for p in parts])
    senders = np.concatenate([p.senders + o for p, o in zip(parts, offsets)])
    receivers = np.concatenate([p.receivers + o for p, o in zip(parts, offsets)])
    weight = np.concatenate([p.edge_weight for p in parts])
    return _a_tilde(int(offsets[-1]), senders, receivers, weight)


def _row_l1(matrix):
    return np.abs(np.asarray(matrix)).sum(-1)


def _registered(name):
    """A registered model (node features 2, edge features 1, one output) in float64."""
    return _f64(hogwild.make_model(name, 2, 1, 1, seed=0))


def _registry_graph(graphs):
    return graphs.batch([graphs.random(6, edge_size=1, extra=2), graphs.chain(4, edge_size=1)])


# --- Ã ---------------------------------------------------------------------------------------


def test_renormalised_adjacency_is_dense_formula(graphs):
    """RenormalisedAdjacency.dense = D̃^{-1/2}(A+I)D̃^{-1/2} on a hand graph and on a weighted
    random graph; padding nodes only keep their self-loop Ã_ii = 1."""
    graph = _hand_graph()
    dense = np.asarray(RenormalisedAdjacency.of(graph).dense(graph))
    np.testing.assert_allclose(dense[:4, :4], _hand_a_tilde(), rtol=1e-14)
    np.testing.assert_array_equal(dense[:4, 4:], 0.0)
    np.testing.assert_array_equal(dense[4:, 4:], np.eye(graph.num_nodes - 4))

    rng = np.random.default_rng(0)
    part = graphs.random(7, extra=4)
    pairs = np.stack([part.senders, part.receivers], 1)[: part.num_edges // 2]
    weight = rng.uniform(0.2, 3.0, size=len(pairs))
    weighted = hogwild.graph_from_edges(part.nodes, pairs, edge_weight=weight)
    graph = graphs.batch([weighted])
    dense = np.asarray(RenormalisedAdjacency.of(graph).dense(graph))[:7, :7]
    a = np.zeros((7, 7))
    a[pairs[:, 1], pairs[:, 0]] = a[pairs[:, 0], pairs[:, 1]] = weight
    d = 1.0 + a.sum(1)
    expected = (a + np.eye(7)) / np.sqrt(np.outer(d, d))
    np.testing.assert_allclose(dense, expected, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(RenormalisedAdjacency.of(graph).degree)[:7], d)


@pytest.mark.parametrize("weighted", [False, True])
def test_renormalised_adjacency_largest_eigenvalue_is_lambda_max(weighted, graphs):
    """λ_max(Ã) = LAMBDA_MAX = 1 with Perron vector D̃^{1/2} 1 (the bound IGNN's κ rests on),
    and every eigenvalue lies in (-1, 1]."""
    rng = np.random.default_rng(1)
    for n, extra in [(3, 0), (6, 2), (9, 5), (12, 12)]:
        part = graphs.random(n, extra=extra)
        if weighted:
            pairs = np.stack([part.senders, part.receivers], 1)[: part.num_edges // 2]
            weight = rng.uniform(0.1, 5.0, size=len(pairs))
            part = hogwild.graph_from_edges(part.nodes, pairs, edge_weight=weight)
        graph = graphs.batch([part])
        adjacency = RenormalisedAdjacency.of(graph)
        dense = np.asarray(adjacency.dense(graph))[:n, :n]
        eigenvalues = np.linalg.eigvalsh(dense)
        assert eigenvalues[-1] == pytest.approx(LAMBDA_MAX, rel=1e-12)
        assert eigenvalues[0] > -1.0
        root_degree = np.sqrt(np.asarray(adjacency.degree)[:n])
        np.testing.assert_allclose(dense @ root_degree, root_degree, rtol=1e-12)


# --- the l1-ball projection of IGNN ------------------------------------------------------------

_project = jax.jit(project_rows_to_l1_ball)


@settings(max_examples=80, deadline=None)
@given(
    matrix=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 3), st.integers(1, 5)),
        elements=st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False),
    ),
    radius=st.floats(0.05, 5.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_project_rows_to_l1_ball_is_euclidean_projection(matrix, radius, seed):
    """Each output row p of v satisfies ‖p‖₁ <= r, p = v when ‖v‖₁ <= r, and p is the closest
    point of the ball: ‖v − p‖₂ <= ‖v − w‖₂ for w at the vertices ±r e_k, at random points of
    the ball and on segments from p towards them (brute-force check of the projection)."""
    out = np.asarray(_project(matrix, radius))
    assert out.shape == matrix.shape
    assert np.all(_row_l1(out) <= radius + 1e-9)
    inside = _row_l1(matrix) <= radius
    np.testing.assert_array_equal(out[inside], matrix[inside])
    rng = np.random.default_rng(seed)
    cols = matrix.shape[1]
    for v, p in zip(matrix, out):
        vertices = radius * np.concatenate([np.eye(cols), -np.eye(cols)])
        z = rng.normal(size=(200, cols))
        z *= radius * rng.uniform(0.0, 1.0, size=(200, 1)) / np.abs(z).sum(1, keepdims=True)
        t = np.array([1e-3, 1e-2, 0.1, 0.5])[:, None, None]
        near = (p + t * (np.concatenate([z, vertices]) - p)).reshape(-1, cols)
        candidates = np.concatenate([vertices, z, near])
        assert np.all(_row_l1(candidates) <= radius * (1 + 1e-12) + 1e-12)
        gap = np.linalg.norm(v - candidates, axis=1) - np.linalg.norm(v - p)
        assert np.min(gap) >= -1e-9 * (1 + np.linalg.norm(v))


# --- IGNN ------------------------------------------------------------------------------------


@eqx.filter_jit
def _unconstrained_step(model, opt_state, batch, h0, optimiser, kind, solver, adjoint):
    """What `train_step` does, without the final `constrain()`."""

    def objective(m):
        sol = hogwild.embed(m, batch.graph, h0, solver, adjoint)
        return loss(kind, m.readout(batch.graph, sol.value), batch)

    grads = eqx.filter_grad(objective)(model)
    updates, _ = optimiser.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
    return eqx.apply_updates(model, updates)


def test_ignn_train_step_projects_weight_into_kappa_ball():
    """After every optimiser step ‖θ_m‖_∞ = max_a Σ_b |θ_ab| <= κ (θ_m projected back onto
    the ball, which keeps F a contraction), although the raw Adam step (lr 10) leaves it."""
    data = make_chains(ChainsConfig(num_graphs=6, length=6))
    assert data.kind == "binary"
    batch = make_batch(data.train, data.level, np.float64)
    model = _f64(hogwild.make_model("ignn", data.in_size, data.edge_size, data.out_size, seed=0))
    kappa = model.kappa
    optimiser = make_optimiser(10.0, 1.0, 1, 0.0, 1)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))
    solver, adjoint = TrainConfig().solver("fixed-point"), ImplicitAdjoint()
    h = jnp.zeros((batch.graph.num_nodes, model.hidden))
    args = (data.kind, solver, adjoint)

    raw = _unconstrained_step(model, opt_state, batch, h, optimiser, *args)
    assert _row_l1(raw.weight).max() > 2 * kappa  # the unconstrained step leaves the ball
    for step in range(4):
        out = train_step(model, opt_state, batch, h, optimiser, *args)
        model, opt_state, h, stats = out.model, out.opt_state, out.states, out.forward
        value = out.loss
        assert bool(out.adjoint.converged) and bool(out.finite)
        if step == 0:
            np.testing.assert_allclose(
                model.weight, project_rows_to_l1_ball(raw.weight, kappa), rtol=1e-9, atol=1e-12
            )
        assert _row_l1(model.weight).max() <= kappa + 1e-12
        assert np.isfinite(float(value)) and bool(stats.converged)
    assert _row_l1(model.weight).max() > kappa - 1e-9  # on the boundary: projection active


@eqx.filter_jit
def _fmap(model, graph, h):
    return model.fixed_point_map(graph, h)


def test_ignn_fixed_point_map_is_kappa_contraction(graphs, getkey):
    """‖F(H) − F(H')‖_w <= κ ‖H − H'‖_w with ‖X‖_w = max_i max_a |X_ia| / sqrt(d̃_i) over real
    nodes (Appendix A), for θ_m on the boundary of the κ-ball; the bound is attained along
    D̃^{1/2}-scaled sign directions, and fails once θ_m is scaled outside the ball."""
    graph = graphs.batch([graphs.random(7, extra=3), graphs.chain(5)])
    model = _f64(hogwild.IGNN(2, 1, hidden=3, key=getkey()))
    model = eqx.tree_at(lambda m: m.weight, model, 10.0 * model.weight).constrain()
    np.testing.assert_allclose(_row_l1(model.weight), model.kappa, rtol=1e-12)
    real = np.asarray(graph.node_mask)
    root_degree = np.sqrt(np.asarray(RenormalisedAdjacency.of(graph).degree))[:, None]

    def norm(x):
        return np.max(np.abs(np.asarray(x))[real] / root_degree[real])

    def ratios(m, rng):
        out = []
        for trial in range(40):
            h = 3.0 * rng.normal(size=(graph.num_nodes, 3))
            if trial % 2:
                delta = rng.normal(size=h.shape) * rng.choice([1e-3, 0.1, 1.0, 10.0])
            else:  # aligned with a row a of θ_m: (Ã Δ θᵀ)_ia = κ sqrt(d̃_i) s for every i
                row = np.sign(np.asarray(m.weight)[rng.integers(3)])
                delta = rng.choice([-1, 1]) * 1e-2 * root_degree * row[None, :]
            diff = _fmap(m, graph, h) - _fmap(m, graph, h + delta)
            out.append(norm(diff) / norm(delta))
        return np.array(out)

    found = ratios(model, np.random.default_rng(0))
    assert found.max() <= model.kappa * (1 + 1e-12)
    assert found.max() >= 0.999 * model.kappa  # tight
    loose = eqx.tree_at(lambda m: m.weight, model, 2.0 * model.weight)
    assert ratios(loose, np.random.default_rng(0)).max() > 1.5 * model.kappa


@eqx.filter_jit
def _solve_fixed_point(model, graph, solver):
    return hogwild.fixed_point(model, graph, solver=solver)


def test_ignn_picard_and_anderson_agree_and_anderson_is_faster(graphs, getkey):
    """Both iterations reach the unique fixed point H* = F(H*) of the contraction (tol 1e-12
    in float64); Anderson acceleration takes fewer evaluations of F than Picard on a
    30-node chain."""
    graph = graphs.batch([graphs.chain(30)])
    model = _f64(hogwild.IGNN(2, 1, key=getkey()))
    picard = _solve_fixed_point(model, graph, Picard(tol=1e-12, max_steps=5000))
    anderson = _solve_fixed_point(model, graph, Anderson(tol=1e-12, max_steps=5000))
    for sol in (picard, anderson):
        assert bool(sol.stats.converged)
        residual = np.linalg.norm(_fmap(model, graph, sol.value) - sol.value)
        assert residual <= 1e-11
    assert np.max(np.abs(picard.value - anderson.value)) < 1e-8
    assert np.max(np.abs(anderson.value)) > 1e-3
    assert int(anderson.stats.steps) < int(picard.stats.steps)


def _states_loss(model, graph, weights):
    h = hogwild.fixed_point(model, graph, solver=Anderson(tol=1e-12, max_steps=5000)).value
    return jnp.sum(jnp.sin(h) * weights)


def _pipeline_loss(model, graph, weights):
    solver = Anderson(tol=1e-12, max_steps=5000)
    h = hogwild.embed(model, graph, None, solver, ImplicitAdjoint()).value
    return jnp.sum(jnp.sin(model.readout(graph, h)) * weights)


@pytest.mark.parametrize("which", ["states", "pipeline"])
def test_ignn_implicit_gradient_matches_finite_differences(which, graphs, getkey):
    """dL/dθ from implicit differentiation (GMRES adjoint, Eq. 36–37) along 3 random
    directions d in the whole parameter pytree equals (L(θ+εd) − L(θ−εd)) / 2ε, ε = 1e-6,
    for L = Σ w ∘ sin(H*) and for the whole model -> embed -> readout pipeline."""
    fn = {"states": _states_loss, "pipeline": _pipeline_loss}[which]
    graph = graphs.batch([graphs.random(6, extra=2), graphs.chain(4)])
    model = _f64(hogwild.IGNN(2, 1, hidden=3, key=getkey()))
    rng = np.random.default_rng(3)
    width = model.hidden if which == "states" else 1
    weights = jnp.asarray(
        rng.normal(size=(graph.num_nodes, width)) * np.asarray(graph.node_mask)[:, None]
    )
    value = eqx.filter_jit(fn)
    grads = eqx.filter_jit(eqx.filter_grad(fn))(model, graph, weights)
    grads = eqx.filter(grads, parameter_spec(model))
    params, static = eqx.partition(model, parameter_spec(model))
    for _ in range(3):
        d = jax.tree_util.tree_map(lambda p: jnp.asarray(rng.normal(size=p.shape)), params)
        analytic = sum(
            float(jnp.vdot(g, v))
            for g, v in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(d))
        )

        def at(s, d=d):
            moved = jax.tree_util.tree_map(lambda p, v: p + s * v, params, d)
            return float(value(eqx.combine(moved, static), graph, weights))

        numeric = (at(EPS) - at(-EPS)) / (2 * EPS)
        assert abs(numeric) > 1e-2
        assert abs(analytic - numeric) <= 1e-5 * abs(numeric), (analytic, numeric)


# --- GSD-GNN ---------------------------------------------------------------------------------


@eqx.filter_jit
def _minimise(model, graph, solver):
    return hogwild.minimise(model, graph, solver=solver)


def test_gsd_minimiser_solves_linear_system(graphs, getkey):
    """argmin γ‖H − g(X)‖² + β tr(Hᵀ(I − Ã)H) (Eq. 7) found by L-BFGS equals the closed form
    and the numpy solve of (γI + β(I − Ã)) H = γ g(X) with Ã built from the edge lists."""
    parts = [graphs.random(7, extra=3), graphs.random(5, extra=1)]
    graph = graphs.batch(parts)
    model = _f64(hogwild.GSDGNN(2, 1, hidden=3, gamma=0.7, beta=4.0, key=getkey()))
    # ‖H − H*‖ <= ‖∇E‖ / 2γ, so ask for ‖∇E‖ <= 1e-9 rather than the default 1e-6.
    sol = _minimise(model, graph, LBFGS(tol=1e-9))
    assert bool(sol.stats.converged)
    closed = np.asarray(model.closed_form(graph))
    np.testing.assert_allclose(sol.value, closed, atol=1e-7)
    n = sum(p.num_nodes for p in parts)
    target = np.asarray(jax.vmap(model.encoder)(graph.nodes))[:n]
    system = model.gamma * np.eye(n) + model.beta * (np.eye(n) - _parts_a_tilde(parts))
    expected = np.linalg.solve(system, model.gamma * target)
    assert np.max(np.abs(expected - target)) > 1e-2  # the smoothing term matters
    np.testing.assert_allclose(np.asarray(sol.value)[:n], expected, atol=1e-7)
    np.testing.assert_allclose(closed[:n], expected, rtol=1e-10, atol=1e-12)


def test_gsd_node_energies_sum_to_objective(graphs, getkey):
    """Σ_i e_i(h_i, views) = γ‖H − g(X)‖²_F + β tr(Hᵀ L̃ H), L̃ = I − Ã, for random H, and
    each e_i is the i-th row of that sum (γ‖h_i − g_i‖² + β h_iᵀ(L̃ H)_i)."""
    parts = [graphs.random(7, extra=3), graphs.chain(4)]
    graph = graphs.batch(parts)
    model = _f64(hogwild.GSDGNN(2, 1, hidden=3, gamma=0.7, beta=4.0, key=getkey()))
    n, rng = sum(p.num_nodes for p in parts), np.random.default_rng(4)
    target = np.asarray(jax.vmap(model.encoder)(graph.nodes))
    laplacian = np.eye(graph.num_nodes)
    laplacian[:n, :n] -= _parts_a_tilde(parts)
    laplacian[n:, n:] -= np.eye(graph.num_nodes - n)  # padding: Ã_ii = 1, no edges
    for _ in range(3):
        h = rng.normal(size=(graph.num_nodes, 3))
        node = np.asarray(model.node_energies(graph, h, h[np.asarray(graph.senders)]))
        rows = model.gamma * np.sum((h - target) ** 2, 1) + model.beta * np.sum(
            h * (laplacian @ h), 1
        )
        np.testing.assert_allclose(node, rows, rtol=1e-12, atol=1e-12)
        total = model.gamma * np.sum((h - target) ** 2) + model.beta * np.trace(h.T @ laplacian @ h)
        assert float(model.energy(graph, h)) == pytest.approx(total, rel=1e-12)


# --- GCN and GAT -----------------------------------------------------------------------------


def test_gcn_forward_matches_dense_eq17(getkey):
    """H^{l+1} = ReLU(Ã H^l W_lᵀ) (Eq. 17) layer by layer in numpy, with Ã of the hand graph."""
    graph = _hand_graph()
    model = _f64(hogwild.GCN(3, 1, layers=3, width=4, key=getkey()))
    a_tilde, h = _hand_a_tilde(), HAND_X
    for weight in model.weights:
        h = np.maximum(a_tilde @ h @ np.asarray(weight).T, 0.0)
    out = np.asarray(model.forward(graph))
    assert out.shape == (graph.num_nodes, 4)
    assert np.count_nonzero(h > 1e-3) >= 4
    np.testing.assert_allclose(out[:4], h, rtol=1e-12, atol=1e-14)


def _gat_layer(layer, h, neighbourhood):
    """Eq. 18–20 densely: per head z = H Pᵀ, s_ij = LeakyReLU_0.2(a[:q]·z_i + a[q:]·z_j) for
    j ∈ N(i) ∪ {i}, α = softmax_j s_ij, m_i = Σ_j α_ij z_j; heads concatenated, then ReLU."""
    project, attend = np.asarray(layer.project), np.asarray(layer.attend)
    q = project.shape[1]
    heads = []
    for p, a in zip(project, attend):
        z = h @ p.T
        s = (z @ a[:q])[:, None] + (z @ a[q:])[None, :]
        s = np.where(s > 0, s, 0.2 * s)
        s = np.where(neighbourhood, s, -np.inf)
        alpha = np.exp(s - s.max(1, keepdims=True))
        alpha /= alpha.sum(1, keepdims=True)
        heads.append(alpha @ z)
    return np.maximum(np.concatenate(heads, 1), 0.0)


@eqx.filter_jit
def _steps(model, graph):
    """Every layer's states of the synchronous forward pass."""
    h, out = model.initial_state(graph), []
    for index in range(model.num_layers):
        h = model.step(index, graph, h, h[graph.senders])
        out.append(h)
    return out


def test_gat_forward_matches_dense_eq18_to_20(getkey):
    """Every GAT layer (3 layers of 2 heads of size 3) equals the dense numpy Eq. 18–20 on
    the hand graph, and `forward` returns the last of them."""
    graph = _hand_graph()
    model = _f64(hogwild.GAT(3, 1, layers=3, heads=2, head_size=3, key=getkey()))
    neighbourhood = _hand_a_tilde() > 0
    h = HAND_X
    states = _steps(model, graph)
    for index, (layer, state) in enumerate(zip(model.layers, states)):
        h = _gat_layer(layer, h, neighbourhood)
        assert np.count_nonzero(h > 1e-3) >= 4, index
        np.testing.assert_allclose(np.asarray(state)[:4, : h.shape[1]], h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(model.forward(graph))[:4], h, rtol=1e-12, atol=1e-14)


# --- the local-rule contract of every registered model ------------------------------------

# The energy GNNs' local gradients are tested in test_energy.py.
LOCAL_RULE_MODELS = [name for name in hogwild.MODELS if not name.startswith("energy-")]


def _width(model):
    return model.state_size if model.family == "explicit" else model.hidden


@eqx.filter_jit
def _local_rule(model, graph, h, view):
    """What node i computes from its own state and its views: layer 0 (explicit), F_i
    (fixed-point) or e_i (optimisation)."""
    if model.family == "explicit":
        return model.step(0, graph, h, view)
    if model.family == "fixed-point":
        return model.update(graph, h, view)
    return model.node_energies(graph, h, view)


@eqx.filter_jit
def _synchronous(model, graph, h):
    """The local rule run at every node with current views, and the synchronous map."""
    if model.family == "explicit":
        for index in range(model.num_layers):
            h = model.step(index, graph, h, h[graph.senders])
        return model.output(h), model.forward(graph)
    if model.family == "fixed-point":
        return model.update(graph, h, h[graph.senders]), model.fixed_point_map(graph, h)
    own, packets = model.local_gradients(graph, h, h[graph.senders])
    summed = own + jax.ops.segment_sum(packets, graph.senders, num_segments=graph.num_nodes)
    return summed, jax.grad(model.energy, argnums=1)(graph, h)


@pytest.mark.parametrize("name", LOCAL_RULE_MODELS)
def test_local_rule_with_current_views_is_synchronous_map(name, graphs):
    """With h_view = H[senders] the local rule is the synchronous model: explicit: the
    `step` loop is `forward`; fixed-point: `update` is F(G, H); optimisation: own gradients
    plus packets summed at their senders are ∇_H E (Eq. 13)."""
    model, graph = _registered(name), _registry_graph(graphs)
    if model.family == "explicit":
        h = model.initial_state(graph)
    else:
        h = np.random.default_rng(5).normal(size=(graph.num_nodes, model.hidden))
    local, synchronous = (np.asarray(a) for a in _synchronous(model, graph, h))
    assert np.max(np.abs(synchronous)) > 1e-3
    np.testing.assert_allclose(local, synchronous, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", LOCAL_RULE_MODELS)
def test_local_rule_reads_only_own_state_and_incoming_views(name, graphs):
    """Node i's rule depends on h_k only for k = i and on h_view[e] only for edges e = (j -> i),
    and it does read its views (a stale view changes the result)."""
    model, graph = _registered(name), _registry_graph(graphs)
    rng = np.random.default_rng(6)
    n, m, width = graph.num_nodes, graph.senders.shape[0], _width(model)
    h = jnp.asarray(rng.normal(size=(n, width)))
    view = jnp.asarray(rng.normal(size=(m, width)))
    d_own, d_view = jax.jacfwd(lambda a, b: _local_rule(model, graph, a, b), (0, 1))(h, view)
    d_own = np.abs(np.asarray(d_own)).reshape(n, -1, n, width).sum((1, 3))
    d_view = np.abs(np.asarray(d_view)).reshape(n, -1, m, width).sum((1, 3))
    np.testing.assert_array_equal(d_own[~np.eye(n, dtype=bool)], 0.0)
    into = np.asarray(graph.receivers)[None, :] == np.arange(n)[:, None]
    np.testing.assert_array_equal(d_view[~into], 0.0)
    real = np.asarray(graph.edge_mask)
    assert np.count_nonzero(d_view[:, real]) >= real.sum() // 2
    stale = np.asarray(_local_rule(model, graph, h, view + 1.0))
    assert np.max(np.abs(stale - np.asarray(_local_rule(model, graph, h, view)))) > 1e-6


@pytest.mark.parametrize("name", list(hogwild.MODELS))
def test_embed_dispatches_on_family(name, graphs):
    """`embed` runs the family's solver: explicit: L layers (steps = num_layers, = forward);
    fixed-point: converged with ‖F(H) − H‖ small; optimisation: converged with ‖∇E‖ small."""
    model, graph = _registered(name), _registry_graph(graphs)
    sol = eqx.filter_jit(hogwild.embed)(model, graph)
    assert bool(sol.stats.converged)
    h = np.asarray(sol.value)
    assert h.shape == (graph.num_nodes, model.hidden)
    if model.family == "explicit":
        assert int(sol.stats.steps) == model.num_layers
        np.testing.assert_allclose(h, np.asarray(model.forward(graph)), rtol=1e-12, atol=1e-14)
    elif model.family == "fixed-point":
        assert np.linalg.norm(np.asarray(_fmap(model, graph, h)) - h) <= 1e-6
    else:
        assert model.family == "optimisation"
        grad = jax.grad(model.energy, argnums=1)(graph, jnp.asarray(h))
        assert np.linalg.norm(np.asarray(grad)) <= 1e-6
    assert 0 < int(sol.stats.steps) < 500


# --- feature sizes: a graph the model was not built for ------------------------------------

_CLASS = {
    "energy-node": "EnergyGNN",
    "energy-edge": "EnergyGNN",
    "energy-attention": "EnergyGNN",
    "gsd": "GSDGNN",
    "ignn": "IGNN",
    "gcn": "GCN",
    "gat": "GAT",
}
_READS_EDGES = ("energy-edge", "energy-attention")


@functools.cache
def _cached(name):
    """`_registered(name)` built once per session (building dispatches many small ops)."""
    return _registered(name)


def _entry_points(family):
    """Every public call that takes a model and a graph, for one family."""
    from hogwild.asynchrony import Schedule, certify, simulate

    common = {
        "embed": hogwild.embed,
        "embed-jit": eqx.filter_jit(hogwild.embed),
        "simulate": lambda m, g: simulate(m, g, Schedule(2, 1), step_size=0.01, max_time=10),
        "certify": lambda m, g: certify(m, g, Schedule(2, 1)),
    }
    own = {
        "optimisation": {
            "minimise": hogwild.minimise,
            "minimise-jit": eqx.filter_jit(hogwild.minimise),
        },
        "fixed-point": {
            "fixed_point": hogwild.fixed_point,
            "fixed_point-jit": eqx.filter_jit(hogwild.fixed_point),
        },
        "explicit": {
            "propagate": hogwild.solve.propagate,
            "forward": lambda m, g: m.forward(g),
            "forward-jit": eqx.filter_jit(lambda m, g: m.forward(g)),
        },
    }
    return {**common, **own[family]}


_CASES = [
    (name, entry) for name, spec in hogwild.MODELS.items() for entry in _entry_points(spec.family)
]


@pytest.mark.parametrize("name, entry", _CASES)
def test_wrong_node_feature_count_is_a_graph_error_at_every_entry_point(name, entry, graphs):
    """Too many node features: GCN / GAT used to drop the extra ones silently, the others
    crashed inside JAX (dot_general); every entry point now names the sizes."""
    model = _cached(name)
    call = _entry_points(model.family)[entry]
    for in_size in (3, 1):
        graph = graphs.batch([graphs.chain(4, in_size=in_size, edge_size=1)])
        message = (
            rf"graph has {in_size} node features but the model '{_CLASS[name]}' expects "
            r"in_size=2\."
        )
        with pytest.raises(hogwild.GraphError, match=message):
            call(model, graph)


@pytest.mark.parametrize("name, entry", [c for c in _CASES if c[0] in _READS_EDGES])
def test_wrong_edge_feature_count_is_a_graph_error_at_every_entry_point(name, entry, graphs):
    model = _cached(name)
    call = _entry_points(model.family)[entry]
    for edge_size in (0, 2):
        graph = graphs.batch([graphs.chain(4, edge_size=edge_size)])
        message = (
            rf"graph has {edge_size} edge features but the model 'EnergyGNN' expects "
            r"edge_size=1\."
        )
        with pytest.raises(hogwild.GraphError, match=message):
            call(model, graph)


@pytest.mark.parametrize("name", [n for n in hogwild.MODELS if n not in _READS_EDGES])
def test_models_that_ignore_edge_features_accept_any_edge_feature_size(name, graphs):
    """GSD-GNN, IGNN, GCN, GAT and the node-wise energy GNN read no edge features: any
    size is fine (shape-only tracing of `embed`, nothing computed)."""
    model = _cached(name)
    assert (model.in_size, model.edge_size) == (2, None)
    for edge_size in (0, 3):
        graph = graphs.batch([graphs.chain(4, edge_size=edge_size)])
        model.check_graph(graph)
        out = eqx.filter_eval_shape(hogwild.embed, model, graph)
        assert out.value.shape == (graph.num_nodes, model.hidden)


@pytest.mark.parametrize("name", list(hogwild.MODELS))
def test_models_declare_their_feature_sizes(name):
    """``in_size`` / ``edge_size`` are static fields: the sizes the model was built for."""
    model = hogwild.make_model(name, 5, 3, 1) if name in _READS_EDGES else _cached(name)
    leaves = jax.tree_util.tree_leaves(model)
    assert all(not isinstance(x, int) for x in leaves), "sizes are static, not leaves"
    if name in _READS_EDGES:
        assert (model.in_size, model.edge_size) == (5, 3)
    else:
        assert model.in_size == 2 and model.edge_size is None


@pytest.mark.parametrize("name", sorted(hogwild.MODELS))
def test_a_seed_gives_the_same_parameters_with_or_without_float64(name):
    """A seed decides the parameters, not whether float64 happens to be enabled (a
    mixed-precision run enables it for the rest of the process): under x64 the model is
    float64 and holds exactly the values drawn with x64 off."""
    wide = hogwild.make_model(name, 2, 1, 1, seed=3, options={})
    with jax.enable_x64(False):
        narrow = hogwild.make_model(name, 2, 1, 1, seed=3)
    wide_leaves = jax.tree_util.tree_leaves(eqx.filter(wide, eqx.is_inexact_array))
    narrow_leaves = jax.tree_util.tree_leaves(eqx.filter(narrow, eqx.is_inexact_array))
    assert len(wide_leaves) == len(narrow_leaves) > 0
    for a, b in zip(wide_leaves, narrow_leaves):
        assert a.dtype == jnp.float64 and b.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b).astype(np.float64))
