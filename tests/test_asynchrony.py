"""Hogwild inference (Section 2.1, 4, Appendix D-E): the simulator and the certificate.

Implicit models (energies, IGNN) reach the synchronous solution under any bounded
staleness; explicit models (GCN, GAT) do not. The schedule keeps every value read at most
B = S + D steps old, replays from its seed, and with S = 1, D = 0 the energy update of
Eq. 11 with packets (Eq. 13) is plain gradient descent. The step-size certificate is
checked against its formula and dense Hessians.
"""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hogwild
from hogwild.asynchrony import Schedule, certify, reverse_edges, safe_step, simulate
from hogwild.asynchrony._simulate import _start, _step, curvature_layout
from hogwild.models._base import AbstractEnergyGNN, Readout, ReceiverSlots
from hogwild.models._gsd import GSDGNN


def _f64(model):
    return jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model
    )


def _model(name):
    """A registered model (node features 2, edge features 1, one output) in float64."""
    return _f64(hogwild.make_model(name, 2, 1, 1, seed=0))


def _graph(graphs):
    """A random connected graph (12 nodes) and a chain (8 nodes): 20 real nodes."""
    return graphs.batch([graphs.random(12, edge_size=1, extra=3), graphs.chain(8, edge_size=1)])


def _small_graph(graphs):
    return graphs.batch([graphs.random(8, edge_size=1, extra=3), graphs.chain(5, edge_size=1)])


@functools.cache
def _property_graph():
    """A fixed 15-node graph for property tests (function-scoped fixtures do not mix with
    hypothesis): a 10-node random tree with 4 extra edges, and a 5-node chain."""
    rng = np.random.default_rng(1)
    tree = [(int(rng.integers(k)), k) for k in range(1, 10)]
    extra = [(0, 5), (2, 9), (3, 7), (1, 8)]
    parts = [
        hogwild.graph_from_edges(rng.normal(size=(10, 2)), tree + extra),
        hogwild.graph_from_edges(rng.normal(size=(5, 2)), [(k, k + 1) for k in range(4)]),
    ]
    return hogwild.batch_graphs(parts, dtype=np.float64)


def _in_degree(graph):
    """Real in-degree of every node, counted in numpy from the edge list."""
    receivers = np.asarray(graph.receivers)[np.asarray(graph.edge_mask)]
    return np.bincount(receivers, minlength=graph.num_nodes)


@eqx.filter_jit
def _solve(model, graph):
    """The synchronous states (L-BFGS / Anderson to 1e-10) and whether the solver converged."""
    if model.family == "optimisation":
        solver = hogwild.LBFGS(tol=1e-10)
    elif model.family == "fixed-point":
        solver = hogwild.Anderson(tol=1e-10)
    else:
        solver = None
    sol = hogwild.embed(model, graph, solver=solver)
    return sol.value, sol.stats.converged


def _synchronous(model, graph):
    """Readout of the synchronous states and whether the solver converged."""
    states, converged = _solve(model, graph)
    return model.readout(graph, states), converged


def _real(graph, x):
    return np.asarray(x)[np.asarray(graph.node_mask)]


# --- implicit models: asynchronous = synchronous ------------------------------------------


@pytest.mark.parametrize("schedule", [Schedule(4, 3, seed=1), Schedule(10, 10, seed=2)])
@pytest.mark.parametrize("name", ["energy-edge", "gsd", "ignn"])
def test_implicit_models_asynchronous_equals_synchronous(name, schedule, graphs):
    """Implicit GNNs are robust to partial asynchrony (Prop. 4.1 / 4.2): under B = 7
    (S = 4, D = 3) and B = 20 (S = 10, D = 10) the asynchronous predictions equal the
    synchronous ones on every real node, and the realised staleness stays <= B.

    Energies run at α = 1/K₁ (the synchronous step, faster than α_safe); the certificate
    must say whether that step is covered, consistently with its own α_safe."""
    graph = _graph(graphs)
    model = _model(name)
    step = None
    if model.family == "optimisation":
        step = 1.0 / certify(model, graph, schedule).smoothness
        checked = certify(model, graph, schedule, step_size=step)
        assert checked.step_size == pytest.approx(step, rel=1e-12)
        assert checked.safe == (step <= checked.safe_step)
    sync, ok = _synchronous(model, graph)
    assert bool(ok)
    trace = simulate(
        model, graph, schedule, step_size=step, tol=1e-9, max_time=200_000, check_every=100
    )
    assert bool(trace.converged)
    assert 0 < trace.max_staleness() <= schedule.staleness_bound
    diff = np.abs(_real(graph, trace.predictions) - _real(graph, sync)).max()
    assert diff < 1e-6


@pytest.mark.parametrize("schedule", [Schedule(4, 3, seed=3), Schedule(20, 40, seed=3)])
def test_certified_default_step_converges_to_synchronous(schedule, graphs):
    """step_size=None runs at the certified α_safe (Prop. 4.2). GSD-GNN is block diagonally
    dominant, so its step is certified for any staleness — the same α under B = 7 and
    B = 60 — and converges to the synchronous solution under both."""
    graph = _graph(graphs)
    model = _model("gsd")
    cert = certify(model, graph, schedule)
    assert cert.safe and cert.dominance < 1
    assert cert.safe_step == pytest.approx(certify(model, graph, Schedule(1, 0)).safe_step)
    trace = simulate(model, graph, schedule, tol=1e-8, max_time=200_000, check_every=200)
    assert float(trace.step_size) == pytest.approx(cert.safe_step, rel=1e-12)
    assert bool(trace.converged)
    sync, _ = _synchronous(model, graph)
    assert np.abs(_real(graph, trace.predictions) - _real(graph, sync)).max() < 1e-6


def test_a_slow_float64_run_is_never_stalled(graphs):
    """A float64 run improving by less than 0.1 % per check (α = 1e-5/K₁ on GSD-GNN) goes on
    to its time budget: "stalled" means the rounding floor, never slow progress."""
    graph, model = _graph(graphs), _model("gsd")
    k1 = certify(model, graph, Schedule(1, 0), step_size="sync").smoothness
    trace = simulate(
        model,
        graph,
        Schedule(4, 3, seed=0),
        step_size=1e-5 / k1,
        tol=1e-10,
        max_time=4000,
        check_every=20,
        stall_checks=50,
    )
    _, residuals = trace.residual_curve()
    assert residuals[-1] < residuals[0]  # steady, slow progress
    assert _old_rule_stops(residuals, 50)  # which the old stall rule took for a stall
    assert not bool(trace.stalled) and int(trace.steps) == 4000


def _old_rule_stops(residuals, stall_checks) -> bool:
    """Whether "stall_checks checks without a new best (by 0.1 %)" ends the curve early."""
    best, since = residuals[0], 0
    for r in residuals[1:]:
        best, since = (r, 0) if r < 0.999 * best else (best, since + 1)
        if since >= stall_checks:
            return True
    return False


def test_a_float32_run_at_its_rounding_floor_stalls(graphs):
    """A float32 run asked for an unreachable tolerance stops as stalled, at its floor,
    long before its budget."""
    parts = [graphs.random(12, edge_size=1, extra=3)]
    graph32 = hogwild.batch_graphs(parts, dtype=np.float32)
    model = hogwild.make_model("gsd", 2, 1, 1, seed=0)
    k1 = certify(_f64(model), graphs.batch(parts), Schedule(1, 0), step_size="sync").smoothness
    trace = simulate(
        model,
        graph32,
        Schedule(2, 1, seed=0),
        step_size=0.5 / k1,
        tol=1e-12,
        max_time=400_000,
        check_every=20,
        stall_checks=50,
    )
    assert bool(trace.stalled) and not bool(trace.converged)
    assert int(trace.steps) < 400_000
    assert trace.residual_curve()[1][-1] < 1e-4  # it did converge to float32 precision


# --- explicit models ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_explicit_models_synchronous_schedule_is_forward_and_asynchrony_is_not(name, graphs):
    """Schedule(1, 0) runs the L layers of the synchronous forward pass exactly; under
    S = 4, D = 3 a stale view mixes layers (Fig. 1 c) and the outputs change. Every real
    node makes exactly L updates either way."""
    graph = _graph(graphs)
    model = _model(name)
    layers = model.num_layers
    forward = model.readout(graph, model.forward(graph))
    trace = simulate(model, graph, Schedule(1, 0))
    assert bool(trace.converged)
    np.testing.assert_array_equal(_real(graph, trace.updates), layers)
    np.testing.assert_allclose(_real(graph, trace.predictions), _real(graph, forward), atol=1e-12)

    diffs = []
    for seed in range(4):
        trace = simulate(model, graph, Schedule(4, 3, seed=seed))
        assert bool(trace.converged)
        np.testing.assert_array_equal(_real(graph, trace.updates), layers)
        assert np.all(np.asarray(trace.updates)[~np.asarray(graph.node_mask)] == 0)
        diffs.append(np.abs(_real(graph, trace.predictions) - _real(graph, forward)).max())
    assert max(diffs) > 1e-6


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_explicit_bias_decides_whether_far_nodes_can_change(name, graphs):
    """On a 14-node chain with a feature at the head only: without a bias (Eq. 17-20) the
    nodes more than L = 5 hops away hold exactly 0 in every layer, so no schedule changes
    them; with a bias they hold layer-dependent constants, which stale views mix."""
    graph = graphs.batch([graphs.chain(14, edge_size=1)])
    far = np.arange(graph.num_nodes) > 5
    far &= np.asarray(graph.node_mask)
    plain = _f64(hogwild.make_model(name, 2, 1, 1, seed=0))
    biased = _f64(hogwild.make_model(name, 2, 1, 1, seed=0, options={"bias": 1}))
    biased = eqx.tree_at(
        lambda m: m.biases, biased, tuple(0.3 + 0.1 * jnp.arange(b.size) for b in biased.biases)
    )
    for model, moves in ((plain, False), (biased, True)):
        sync = np.asarray(model.forward(graph))[far]
        assert np.all(sync == 0.0) != moves
        changes = [
            np.abs(np.asarray(simulate(model, graph, Schedule(4, 3, seed=s)).states)[far] - sync)
            for s in range(4)
        ]
        assert (max(c.max() for c in changes) > 1e-6) == moves


# --- the schedule -------------------------------------------------------------------------


@settings(max_examples=12, deadline=None)  # each new (S, D) compiles its own program
@given(stagger=st.integers(1, 6), delay=st.integers(0, 6), seed=st.integers(0, 2**31 - 1))
def test_schedule_bounds_staleness_and_update_rate(stagger, delay, seed):
    """Assumption 2.1: no value read is older than B = S + D; a node fires at least once in
    every S steps, so it makes >= T // S and <= T updates in T steps; the staleness
    histogram counts one entry per neighbour value read, Σ_i updates_i · deg_i."""
    graph = _property_graph()
    model = _model("ignn")
    steps = 60
    trace = simulate(
        model, graph, Schedule(stagger, delay, seed), tol=0.0, max_time=steps, check_every=20
    )
    assert int(trace.steps) == steps
    assert trace.max_staleness() <= stagger + delay
    updates = np.asarray(trace.updates)
    real = np.asarray(graph.node_mask)
    assert np.all(updates[real] >= steps // stagger)
    assert np.all(updates[real] <= steps)
    assert np.all(updates[~real] == 0)
    reads = int(np.sum(updates * _in_degree(graph)))
    assert reads > 0
    assert int(np.sum(np.asarray(trace.staleness))) == reads


@eqx.filter_jit
def _local_gradients(model, graph, h, h_view):
    return model.local_gradients(graph, h, h_view)


@eqx.filter_jit
def _curvatures(model, graph, h, h_view, slots, groups=None):
    return model.local_curvatures(graph, h, h_view, slots, groups=groups)


@eqx.filter_jit
def _ignn_update(model, graph, h, h_view):
    return model.update(graph, h, h_view)


_jit_step = eqx.filter_jit(_step)
_jit_start = eqx.filter_jit(_start)


def _segment_sum(values, segments, num_segments):
    """`jax.ops.segment_sum` in NumPy (op by op in JAX, each shape compiles a program)."""
    out = np.zeros((num_segments, *values.shape[1:]), values.dtype)
    np.add.at(out, segments, values)
    return out


@pytest.mark.parametrize(
    ("name", "schedule", "precondition"),
    [
        ("ignn", Schedule(3, 2, seed=5), False),
        ("gsd", Schedule(3, 2, seed=5), False),
        ("energy-edge", Schedule(3, 2, seed=5), False),
        ("energy-attention", Schedule(2, 5, seed=6), True),
    ],
)
def test_steps_read_states_and_packets_from_the_viewed_time(name, schedule, precondition, graphs):
    """Step by step against a full (non-ring-buffer) history H(0), H(1), ...: views move
    only when their receiver fires, to τ ∈ [max(τ_old, t − D), t]; every firing node's new
    state is its rule applied to H(τ) of its neighbours — for energies Eq. 11 with the
    packets g_ji = ∂e_j/∂h_i that j computed from H(τ) and its own views at τ (Eq. 13),
    preconditioned: scaled by the inverse of its own curvature block plus the curvature
    packets ∂²e_j/∂h_i² of the same time. A node that does not fire keeps its views, however
    old (up to S + D, beyond the D + 1 slots of the ring buffer), and its packets are
    computed from them: PICNN packets depend on the views, so this catches a view re-read
    from a reused slot. Consecutive firings are 1..S steps apart; the
    unclipped age of every value read is <= S + D, and the simulator's histogram equals
    these ages."""
    graph = _small_graph(graphs)
    model = _model(name)
    slots = curvature_layout(graph) if precondition else None
    S, D = schedule.stagger, schedule.delay
    T = 30
    alpha = jnp.asarray(0.01) if model.family == "optimisation" else None
    senders, receivers = np.asarray(graph.senders), np.asarray(graph.receivers)
    reverse = reverse_edges(senders, receivers)
    real, edge_mask = np.asarray(graph.node_mask), np.asarray(graph.edge_mask)
    prepared = model.prepare(graph)
    carry = _jit_start(model, graph, prepared, schedule, jr.PRNGKey(schedule.seed), None, slots)

    history, packets, curvatures = [np.asarray(carry.h)], [], []
    fired_at = [[] for _ in range(graph.num_nodes)]
    ages = []
    for t in range(T):
        prev_tau = np.asarray(carry.tau)
        prev_updates = np.asarray(carry.updates)
        steps = (alpha, 0.0, slots)
        carry = _jit_step(model, graph, prepared, jnp.asarray(reverse), schedule, steps, carry)
        fired = (np.asarray(carry.updates) - prev_updates).astype(bool)
        assert not fired[~real].any()
        tau = np.asarray(carry.tau)
        moved = fired[receivers] & edge_mask
        np.testing.assert_array_equal(tau[~moved], prev_tau[~moved])
        assert np.all(tau[moved] >= np.maximum(prev_tau[moved], t - D))
        assert np.all(tau[moved] <= t)

        view = np.stack([history[s][j] for s, j in zip(tau, senders)])
        h = history[t]
        if model.family == "optimisation":
            own, out = (np.asarray(x) for x in _local_gradients(model, graph, h, view))
            packets.append(out)
            incoming = np.stack([packets[s][reverse[e]] for e, s in enumerate(tau)])
            total = own + _segment_sum(incoming, receivers, graph.num_nodes)
            if precondition:
                own_c, out_c = (np.asarray(x) for x in _curvatures(model, graph, h, view, *slots))
                curvatures.append(out_c)
                into = np.stack([curvatures[s][reverse[e]] for e, s in enumerate(tau)])
                block = own_c + _segment_sum(into, receivers, graph.num_nodes)
                total = np.linalg.solve(block, total[..., None])[..., 0]
            expected = h - float(alpha) * total
        else:
            expected = np.asarray(_ignn_update(model, graph, h, view))
        new = np.asarray(carry.h)
        np.testing.assert_allclose(new[fired], expected[fired], rtol=1e-12, atol=1e-13)
        np.testing.assert_array_equal(new[~fired], h[~fired])

        for e in np.nonzero(moved)[0]:  # when the viewed value was computed
            before = [s for s in fired_at[senders[e]] if s < tau[e]]
            ages.append(t - (before[-1] if before else -1))
        for i in np.nonzero(fired)[0]:
            fired_at[i].append(t)
        history.append(new)

    assert ages and max(ages) <= S + D
    for i in np.nonzero(real)[0]:
        times = np.array(fired_at[i])
        assert times[0] <= S - 1
        assert np.all((np.diff(times) >= 1) & (np.diff(times) <= S))
    histogram = np.bincount(ages, minlength=S + D + 1)
    np.testing.assert_array_equal(np.asarray(carry.staleness), histogram)

    trace = simulate(
        model,
        graph,
        schedule,
        step_size=alpha,
        tol=0.0,
        max_time=T,
        check_every=T,
        precondition=precondition,
    )
    assert trace.preconditioned == precondition
    np.testing.assert_array_equal(np.asarray(trace.staleness), histogram)
    np.testing.assert_array_equal(np.asarray(trace.updates), np.asarray(carry.updates))
    np.testing.assert_allclose(trace.states, history[-1], rtol=1e-12, atol=1e-13)


def test_same_seed_replays_bit_identically_other_seed_differs(graphs):
    """A Schedule is a replayable random schedule: the same seed gives bit-identical states,
    residuals, updates and staleness; another seed gives another firing pattern."""
    graph = _graph(graphs)
    model = _model("gsd")
    kwargs = dict(step_size=0.02, tol=0.0, max_time=300, check_every=50)
    a = simulate(model, graph, Schedule(4, 3, seed=7), **kwargs)
    b = simulate(model, graph, Schedule(4, 3, seed=7), **kwargs)
    c = simulate(model, graph, Schedule(4, 3, seed=8), **kwargs)
    for field in ("states", "residuals", "updates", "staleness", "times"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.updates, c.updates)
    assert not np.array_equal(a.states, c.states)


# --- packets: S = 1, D = 0 is gradient descent ----------------------------------------------


@pytest.mark.parametrize("name", ["energy-edge", "gsd"])
def test_synchronous_schedule_is_gradient_descent(name, graphs):
    """With S = 1, D = 0 every real node fires every step and reads current values, so
    h_i ← h_i − α(∂e_i/∂h_i + Σ_j g_ji) (Eq. 11, packets of Eq. 13) is exactly
    H ← H − α ∇E(H) on real nodes: states after k steps and ‖∇E‖ after every step agree
    with hand-written gradient descent (jax.grad of the energy)."""
    graph = _graph(graphs)
    model = _model(name)
    alpha, k = 0.02, 6
    mask = np.asarray(graph.node_mask)[:, None]
    grad = jax.jit(jax.grad(lambda h: model.energy(graph, h)))
    h = jnp.zeros((graph.num_nodes, model.hidden))
    norms = []
    for _ in range(k):
        h = h - alpha * jnp.where(mask, grad(h), 0.0)
        norms.append(float(jnp.linalg.norm(jnp.where(mask, grad(h), 0.0))))
    trace = simulate(
        model, graph, Schedule(1, 0), step_size=alpha, tol=0.0, max_time=k, check_every=1
    )
    assert int(trace.steps) == k
    np.testing.assert_allclose(trace.states, h, rtol=1e-12, atol=1e-14)
    times, residuals = trace.residual_curve()
    np.testing.assert_array_equal(times, np.arange(1, k + 1))
    np.testing.assert_allclose(residuals, norms, rtol=1e-10)
    assert np.linalg.norm(np.asarray(h)) > 1e-3  # the steps moved


# --- the certificate ----------------------------------------------------------------------


@eqx.filter_jit
def _dense_hessians(model, graph, h_star):
    """Dense ∇²E at H* and at 0, and the Hessians of Σ_j e_j(h, views) in (H, views) at
    (H*, H*[senders]) and at 0, all on flattened arguments."""
    shape, views = h_star.shape, h_star[graph.senders]

    def energy(v):
        return model.energy(graph, v.reshape(shape))

    def local(v):
        h, view = v[: h_star.size].reshape(shape), v[h_star.size :].reshape(views.shape)
        return jnp.sum(model.node_energies(graph, h, view))

    hess = jax.hessian(energy)
    point = jnp.concatenate([h_star.ravel(), views.ravel()])
    local_hess = jax.hessian(local)
    return (
        hess(h_star.ravel()),
        hess(jnp.zeros(h_star.size)),
        local_hess(point),
        local_hess(jnp.zeros_like(point)),
    )


def _dense_coupling(graph, local, k, own=True, keep=None):
    """M̃_il = Σ_j ‖∂²e_j/∂z_i∂z_l‖₂ from a dense lifted Hessian: node j's coordinates are
    its own state and its views (edges into j), each standing for the node it copies.
    ``own=False`` leaves out each node energy's own block A_j (the stale part N);
    ``keep(row_is_own, column_is_own)`` keeps only the blocks it accepts."""
    n = graph.num_nodes
    senders, receivers = np.asarray(graph.senders), np.asarray(graph.receivers)
    real_edges = np.asarray(graph.edge_mask)
    coupling = np.zeros((n, n))
    for j in np.flatnonzero(np.asarray(graph.node_mask)):
        edges = np.flatnonzero((receivers == j) & real_edges)
        coords = [(j, j * k)] + [(senders[e], n * k + e * k) for e in edges]
        for a, ra in coords:
            for b, rb in coords:
                kept = keep is None or keep(ra == j * k, rb == j * k)
                if kept and (own or ra != j * k or rb != j * k):
                    coupling[a, b] += np.linalg.norm(local[ra : ra + k, rb : rb + k], 2)
    return coupling


def _dense_dominance(graph, locals_, k):
    """q = ρ(diag(λ_min(A))⁻¹ N) on the real nodes, N and A the entrywise worst of the
    given dense lifted Hessians."""
    real = np.flatnonzero(np.asarray(graph.node_mask))
    stale = np.maximum(*(_dense_coupling(graph, x, k, own=False) for x in locals_))
    low = np.min(
        [
            [np.linalg.eigvalsh(x[j * k : j * k + k, j * k : j * k + k])[0] for j in real]
            for x in locals_
        ],
        axis=0,
    )
    scaled = stale[np.ix_(real, real)] / low[:, None]
    return np.abs(np.linalg.eigvals(scaled)).max()


def _dense_lag_coupling(graph, locals_, k, stagger, delay):
    """D ‖P_D + P_self + P_view‖₂ + S ‖P_self + P_view‖₂ + D ‖P_view‖₂ from dense lifted
    Hessians (entrywise worst of ``locals_``): P_D the blocks of a node's own energy between
    its state and its views, P_self / P_view the blocks of a neighbour's energy against that
    neighbour's state / its views."""

    def part(keep):
        return np.maximum(*(_dense_coupling(graph, x, k, keep=keep) for x in locals_))

    views = part(lambda row_own, col_own: not row_own and not col_own)
    packets = views + part(lambda row_own, col_own: not row_own and col_own)
    stale = packets + part(lambda row_own, col_own: row_own and not col_own)
    return sum(
        w * np.linalg.norm(m, 2) for w, m in ((delay, stale), (stagger, packets), (delay, views))
    )


def test_safe_step_formula():
    """α_safe = 1 / (K₁/2 + min(K̃ B', lag)) at hand-picked points."""
    assert safe_step(2.0, 1.0, 1) == pytest.approx(1.0 / 2.0)
    assert safe_step(10.0, 0.5, 8) == pytest.approx(1.0 / 9.0)
    assert safe_step(10.0, 0.5, 8, lag=3.0) == pytest.approx(1.0 / 8.0)
    assert safe_step(10.0, 0.5, 8, lag=6.0) == pytest.approx(1.0 / 9.0)


@pytest.mark.parametrize("name", ["energy-edge", "gsd"])
def test_energy_certificate_matches_dense_hessians(name, graphs):
    """certify's constants against dense Hessians on the 20-node test graph: K₁ = λ_max(∇²E)
    at H* and at 0 (the larger, as documented) and at H* alone, μ = λ_min of ∇²E(H*) on the
    real nodes (padding nodes never update), each within 5 %; the coupling K̃ an upper
    bound on ρ(M̃) within 1 % of it, M̃ built from the dense Hessians of the node energies
    (entrywise larger of H* and 0). Then α_safe = `safe_step(K₁, K̃, B')` with
    B' = S + 2D; a step above α_safe is not certified, one below is, and momentum never."""
    graph = _graph(graphs)
    model = _model(name)
    schedule = Schedule(4, 3)
    cert = certify(model, graph, schedule)
    h_star, ok = _solve(model, graph)
    assert bool(ok)
    star, zero, local_star, local_zero = (
        np.asarray(x) for x in _dense_hessians(model, graph, h_star)
    )
    real = np.repeat(np.asarray(graph.node_mask), model.hidden)  # rows of the flat H
    at_star, at_zero = (np.linalg.eigvalsh(x) for x in (star, zero))
    assert cert.smoothness == pytest.approx(max(at_star[-1], at_zero[-1]), rel=0.05)
    assert cert.smoothness_at_minimiser == pytest.approx(at_star[-1], rel=0.05)
    at_minimiser = certify(model, graph, schedule, "minimiser").step_size
    assert at_minimiser == pytest.approx(1.0 / at_star[-1], rel=0.05)
    mu = np.linalg.eigvalsh(star[np.ix_(real, real)])[0]
    assert cert.strong_convexity == pytest.approx(mu, rel=0.05)
    k = model.hidden
    m_star = _dense_coupling(graph, local_star, k)
    m_both = np.maximum(m_star, _dense_coupling(graph, local_zero, k))
    for bound, matrix in ((cert.coupling, m_both), (cert.coupling_at_minimiser, m_star)):
        rho = np.linalg.eigvalsh(matrix)[-1]
        assert rho * (1 - 1e-9) <= bound <= 1.01 * rho
    lags = (
        (cert.lag_coupling, (local_star, local_zero)),
        (cert.lag_coupling_at_minimiser, (local_star, local_star)),
    )
    for bound, locals_ in lags:
        exact = _dense_lag_coupling(graph, locals_, k, schedule.stagger, schedule.delay)
        assert exact * (1 - 1e-6) <= bound <= 1.02 * exact  # float32 blocks
    q = _dense_dominance(graph, (local_star, local_zero), k)
    assert q * (1 - 1e-6) <= cert.dominance <= 1.01 * q  # eigvals of a non-symmetric matrix

    assert cert.max_degree == int(_in_degree(graph).max())
    assert cert.staleness == schedule.stagger + 2 * schedule.delay  # views S + D, packets + D
    expected = safe_step(cert.smoothness, cert.coupling, cert.staleness, cert.lag_coupling)
    if name == "gsd":  # block diagonally dominant: certified for any staleness, larger step
        own = [
            np.linalg.eigvalsh(local_star[j * k : j * k + k, j * k : j * k + k])[-1]
            for j in np.flatnonzero(np.asarray(graph.node_mask))
        ]
        assert cert.dominance < 1 and "any staleness" in cert.reason
        expected = max(expected, 1.0 / max(own))
    else:
        assert cert.dominance > 1
    assert cert.safe and cert.safe_step == pytest.approx(expected, rel=1e-12)
    assert cert.step_size == cert.safe_step
    assert not certify(model, graph, schedule, step_size=1.5 * cert.safe_step).safe
    assert certify(model, graph, schedule, step_size=0.5 * cert.safe_step).safe
    assert not certify(model, graph, schedule, step_size=0.5 * cert.safe_step, momentum=0.5).safe


def test_fixed_point_and_explicit_certificates(graphs):
    """IGNN is certified (‖θ_m‖_∞ <= κ < 1, Prop. 4.1) unless θ_m is scaled out of the
    κ-ball; GCN is never certified (explicit: a fixed number of layers)."""
    graph = _small_graph(graphs)
    ignn = _model("ignn")
    assert certify(ignn, graph, Schedule(4, 3)).safe
    norm = np.abs(np.asarray(ignn.weight)).sum(1).max()
    loose = eqx.tree_at(lambda m: m.weight, ignn, ignn.weight * (1.2 / norm))
    assert not certify(loose, graph, Schedule(4, 3)).safe
    gcn = certify(_model("gcn"), graph, Schedule(1, 0))
    assert not gcn.safe and gcn.family == "explicit"


# --- bad input ----------------------------------------------------------------------------


def test_bad_input_raises(graphs):
    """Invalid stagger / delay, a directed graph for an energy model (packets travel back
    along the reverse edge) and a non-positive step size are ValueErrors naming the
    problem."""
    with pytest.raises(ValueError, match="stagger"):
        Schedule(0, 1)
    with pytest.raises(ValueError, match="delay"):
        Schedule(1, -1)
    directed = graphs.batch([graphs.random(6, edge_size=1, extra=2, directed=True)])
    with pytest.raises(ValueError, match="reverse"):
        simulate(_model("energy-edge"), directed, Schedule(2, 1), step_size=0.01, max_time=10)
    with pytest.raises(ValueError, match="step_size"):
        simulate(_model("gsd"), _small_graph(graphs), Schedule(2, 1), step_size=0.0)
    with pytest.raises(ValueError, match="momentum"):
        simulate(_model("gsd"), _small_graph(graphs), Schedule(2, 1), momentum=1.0)


@functools.cache
def _laplacian_stiff():
    """GSD-GNN with γ = 1, β = 6700 on a 40-node chain and a 30-node tree with 3 extra
    edges: condition number ≈ 9e3, all of it in the coupling between nodes (each node's
    own block is well conditioned), so no node-local scaling helps — only momentum."""
    rng = np.random.default_rng(0)
    tree = [(int(rng.integers(k)), k) for k in range(1, 30)]
    parts = [
        hogwild.graph_from_edges(rng.normal(size=(40, 2)), [(k, k + 1) for k in range(39)]),
        hogwild.graph_from_edges(rng.normal(size=(30, 2)), tree + [(0, 5), (2, 9), (3, 7)]),
    ]
    graph = hogwild.batch_graphs(parts, dtype=np.float64)
    model = _f64(GSDGNN(2, 1, gamma=1.0, beta=6700.0, key=jr.PRNGKey(0)))
    return model, graph


def test_divergence_ends_the_run_and_says_so(graphs):
    """A step far above 2/K₁ blows up: the run stops as soon as the residual is no longer
    finite, long before its budget, and reports ``diverged`` (not converged, not
    stalled); a convergent run is never ``diverged``."""
    graph, model = _graph(graphs), _model("gsd")
    k1 = certify(model, graph, Schedule(1, 0), step_size="sync").smoothness
    blown = simulate(
        model, graph, Schedule(4, 3), step_size=50.0 / k1, max_time=100_000, check_every=20
    )
    assert bool(blown.diverged) and not bool(blown.converged) and not bool(blown.stalled)
    assert int(blown.steps) < 100_000
    fine = simulate(model, graph, Schedule(4, 3), step_size=1.0 / k1, tol=1e-8)
    assert bool(fine.converged) and not bool(fine.diverged)


@pytest.mark.parametrize("schedule", [Schedule(4, 3, seed=1), Schedule(10, 10, seed=1)])
def test_momentum_reaches_the_minimiser_of_a_stiff_energy(schedule, optimised):
    """Node-local heavy-ball momentum (β = 0.9, α = 1/K₁) reaches the closed-form minimiser
    to 1e-6 on an energy with condition number ≈ 1e4 under B = 7 and B = 20, in a budget
    where plain steps (β = 0) are still far from it; the certificate refuses momentum."""
    model, graph = _laplacian_stiff()
    cert = certify(model, graph, schedule)
    assert cert.condition_number > 8e3
    assert not certify(model, graph, schedule, momentum=0.9).safe
    budget = 450_000 if schedule.delay == 10 else 150_000
    runs = {
        beta: simulate(
            model,
            graph,
            schedule,
            step_size=1.0 / cert.smoothness,
            momentum=beta,
            tol=1e-9,
            max_time=budget,
            check_every=500,
        )
        for beta in (0.0, 0.9)
    }
    fast, plain = runs[0.9], runs[0.0]
    assert bool(fast.converged) and float(fast.momentum) == 0.9
    exact = np.asarray(model.closed_form(graph))
    assert np.abs(_real(graph, fast.states) - _real(graph, exact)).max() < 1e-6
    assert not bool(plain.converged)
    assert np.abs(_real(graph, plain.states) - _real(graph, exact)).max() > 1e-4


def test_schedule_longer_than_the_budget_is_refused(graphs):
    """A stagger or delay above max_time is refused before any work (no certificate)."""
    graph = _small_graph(graphs)
    for schedule in (Schedule(11, 0), Schedule(2, 11)):
        with pytest.raises(ValueError, match=r"must be at most the time budget max_time = 10"):
            simulate(_model("gsd"), graph, schedule, max_time=10)
    simulate(_model("ignn"), graph, Schedule(10, 10), max_time=10, check_every=10)


def test_huge_history_is_refused_naming_its_size(graphs):
    """D = 10^7 would keep 10^7 + 1 copies of every state and packet (>10 GiB for this
    20-node graph): refused in one line before the certificate or any allocation."""
    from hogwild.asynchrony import MAX_SIMULATION_BYTES, simulation_bytes

    graph, model = _small_graph(graphs), _model("energy-edge")
    schedule = Schedule(4, 10**7)
    size = simulation_bytes(model, graph, schedule, max_time=2 * 10**7, check_every=20)
    n, m, h = graph.num_nodes, graph.senders.shape[0], model.hidden
    assert size == (10**7 + 1) * (8 * n * h + 8 * m * h + 4 * n) + 10**6 * 12
    assert size > MAX_SIMULATION_BYTES
    with pytest.raises(ValueError, match=r"^the simulation would hold [\d.]+ GiB .*--delay") as err:
        simulate(model, graph, schedule, max_time=2 * 10**7)
    assert "\n" not in str(err.value)
    # Residual checks count too: a tiny schedule with a budget of 10^10 single-step checks.
    with pytest.raises(ValueError, match="10000000000 residual checks"):
        simulate(model, graph, Schedule(2, 1), max_time=10**10, check_every=1)


class _AnisotropicEnergy(AbstractEnergyGNN):
    """e_i = ½(h_i − x_i)ᵀA_i(h_i − x_i) + (w/4)Σ_j ‖h_i − h_j‖², A_i = R_i diag(a, 1)R_iᵀ
    rotated by a node-dependent angle: condition number ≈ a, all of it inside each node's
    own block (the case block-Jacobi steps fix and plain or diagonal scaling does not)."""

    readout: Readout
    stiffness: float = eqx.field(static=True)
    weight: float = eqx.field(static=True)
    hidden: int = eqx.field(static=True, default=2)
    in_size: int = eqx.field(static=True, default=2)
    edge_size: None = eqx.field(static=True, default=None)

    def __init__(self, stiffness, weight):
        self.readout = Readout(2, 1, graph_level=False, key=jr.PRNGKey(0))
        self.stiffness, self.weight = stiffness, weight

    def blocks(self, graph):
        angle = 0.7 * jnp.arange(graph.num_nodes, dtype=graph.nodes.dtype)
        c, s = jnp.cos(angle), jnp.sin(angle)
        rotation = jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)
        scale = jnp.asarray([self.stiffness, 1.0], graph.nodes.dtype)
        return jnp.einsum("nab,b,ncb->nac", rotation, scale, rotation)

    def node_energies(self, graph, h, h_view, prepared=None):
        d = h - graph.nodes
        fit = 0.5 * jnp.einsum("na,nab,nb->n", d, self.blocks(graph), d)
        pull = jnp.sum((h[graph.receivers] - h_view) ** 2, -1) * graph.edge_mask
        return fit + 0.25 * self.weight * jax.ops.segment_sum(
            pull, graph.receivers, graph.num_nodes
        )

    def minimiser(self, graph):
        """Dense solve of (blockdiag(A) + w L ⊗ I) H = A X on the real nodes."""
        n = graph.num_nodes
        a = np.asarray(self.blocks(graph))
        big = np.zeros((n, 2, n, 2))
        for i in range(n):
            big[i, :, i, :] = a[i]
        for s_, r, real in zip(graph.senders, graph.receivers, graph.edge_mask):
            if real:
                big[r, :, r, :] += self.weight * np.eye(2)
                big[r, :, s_, :] -= self.weight * np.eye(2)
        rhs = np.einsum("nab,nb->na", a, np.asarray(graph.nodes))
        return np.linalg.solve(big.reshape(2 * n, 2 * n), rhs.ravel()).reshape(n, 2)


@pytest.mark.parametrize("schedule", [Schedule(4, 3, seed=1), Schedule(10, 10, seed=1)])
def test_block_jacobi_steps_reach_the_minimiser_of_a_stiff_energy(schedule, graphs):
    """On an energy with condition number 1e4 held in each node's own 2 × 2 block,
    block-Jacobi steps at their default step — certified for any staleness (q' < 1),
    α = 1 — reach the minimiser to 1e-6 under B = 7 and B = 20 in a budget where plain
    steps at α = 1/K₁ are still far from it; plain steps' own certificate is far smaller."""
    graph = _graph(graphs)
    model = _AnisotropicEnergy(1e4, 0.5)
    plain = certify(model, graph, schedule)
    scaled = certify(model, graph, schedule, precondition=True)
    assert plain.condition_number > 5e3
    assert scaled.safe and scaled.block_dominance < 1 and scaled.safe_step == 1.0
    assert "block Jacobi" in scaled.reason
    fast = simulate(model, graph, schedule, precondition=True, tol=1e-9, max_time=20_000)
    slow = simulate(model, graph, schedule, step_size=1 / plain.smoothness, max_time=20_000)
    exact = model.minimiser(graph)
    assert bool(fast.converged) and fast.preconditioned and float(fast.step_size) == 1.0
    assert np.abs(_real(graph, fast.states) - _real(graph, exact)).max() < 1e-6
    assert not bool(slow.converged)
    assert np.abs(_real(graph, slow.states) - _real(graph, exact)).max() > 1e-3


@eqx.filter_jit
def _curvature_blocks_and_dense_hessian(model, graph, h, slots):
    """One program (op by op, the two took ~580 small compilations)."""
    own, packets = model.local_curvatures(graph, h, h[graph.senders], slots)
    blocks = own + jax.ops.segment_sum(packets, graph.senders, num_segments=graph.num_nodes)
    n, k = h.shape
    return blocks, jax.hessian(lambda x: model.energy(graph, x.reshape(n, k)))(h.ravel())


def test_block_jacobi_curvature_packets_sum_to_the_hessian_diagonal(graphs):
    """own + Σ incoming curvature packets = the diagonal blocks of the dense ∇²E at
    current views (the second-order counterpart of the gradient packets)."""
    graph = _graph(graphs)
    model = _model("energy-attention")
    h = jr.normal(jr.PRNGKey(3), (graph.num_nodes, model.hidden), graph.nodes.dtype)
    blocks, dense = _curvature_blocks_and_dense_hessian(model, graph, h, ReceiverSlots.of(graph))
    n, k = h.shape
    dense = np.asarray(dense).reshape(n, k, n, k)
    real = np.nonzero(np.asarray(graph.node_mask))[0]
    for i in real:
        np.testing.assert_allclose(blocks[i], dense[i, :, i, :], rtol=1e-9, atol=1e-12)


def test_curvature_packets_count_in_the_history_size(graphs):
    """Block-Jacobi packets carry g_ji and C_ji: k + k² numbers per edge and history slot,
    so a delay whose plain history fits can be refused with preconditioning."""
    from hogwild.asynchrony import MAX_SIMULATION_BYTES, simulation_bytes
    from hogwild.asynchrony._simulate import check_simulation

    graph, model = _small_graph(graphs), _model("energy-edge")
    n, m, h = graph.num_nodes, graph.senders.shape[0], model.hidden
    plain_slot, block_slot = 8 * n * h + 8 * m * h + 4 * n, 8 * n * h + 8 * m * (h + h * h) + 4 * n
    delay = MAX_SIMULATION_BYTES // plain_slot - 2  # fits plain, not with curvature packets
    schedule, budget = Schedule(4, delay), {"max_time": delay, "check_every": delay}
    size = simulation_bytes(model, graph, schedule, **budget, precondition=True)
    assert size == (delay + 1) * block_slot + 12
    check_simulation(model, graph, schedule, **budget)
    with pytest.raises(ValueError, match=r"^the simulation would hold"):
        check_simulation(model, graph, schedule, **budget, precondition=True)


def test_a_run_out_of_budget_keeps_its_checkpoint_and_a_larger_budget_continues_it(
    graphs, tmp_path
):
    """A checkpointed run that ends on its time budget keeps its final state; the same
    call with a larger ``max_time`` continues it (its first progress report is past the
    old budget) and ends with the trace a run given that budget from the start gives, bit
    for bit; a run that converges removes its file; a smaller budget than the saved run has
    already used is refused, the file kept."""
    from hogwild.train import CheckpointError

    graph, model = _small_graph(graphs), _model("gsd")
    schedule, path = Schedule(4, 3, seed=2), tmp_path / "run.ckpt"
    whole = simulate(model, graph, schedule, step_size=5e-3, max_time=20_000)
    assert bool(whole.converged) and int(whole.steps) > 2000  # 3,680 steps
    short = simulate(model, graph, schedule, step_size=5e-3, max_time=1000, checkpoint=path)
    assert int(short.steps) == 1000 and not bool(short.converged) and path.is_file()
    with pytest.raises(CheckpointError, match="already 1,000 steps in"):
        simulate(model, graph, schedule, step_size=5e-3, max_time=500, checkpoint=path)
    heard = []
    longer = simulate(
        model, graph, schedule, step_size=5e-3, max_time=20_000, checkpoint=path,
        progress=lambda t, r: heard.append(int(t)),
    )  # fmt: skip
    assert heard[0] == 2000  # the first 1,000 steps were not run again
    assert not path.exists()  # converged: nothing left to continue
    for field in ("states", "times", "residuals", "checks", "steps", "updates", "staleness"):
        np.testing.assert_array_equal(getattr(longer, field), getattr(whole, field))
    assert bool(longer.converged)


def test_a_checkpoint_saved_before_budgets_were_left_out_still_resumes(graphs, tmp_path):
    """A checkpoint written by an earlier version (its fingerprint included the budget,
    its header no length of the check arrays) is continued by the same call."""
    import hogwild.asynchrony._simulate as sim
    from hogwild.asynchrony._resume import _with_budget
    from hogwild.train import save_checkpoint
    from hogwild.train._checkpoint import read_header

    graph, model = _small_graph(graphs), _model("gsd")
    schedule, path = Schedule(4, 3, seed=1), tmp_path / "run.ckpt"
    slow = {"step_size": 1e-3, "tol": 1e-12}
    whole = simulate(model, graph, schedule, **slow, max_time=3000)
    simulate(model, graph, schedule, **slow, max_time=1000, checkpoint=path)  # kept
    header, _ = read_header(path)
    shape = dataclasses.replace(schedule, seed=0)
    old = sim.run_fingerprint(model, graph, None, {**_settings(schedule, 1e-3), "max_time": 3000})
    steps = (jnp.asarray(1e-3), jnp.asarray(0.0), None)
    loop = sim._begin_jit(model, graph, shape, jr.PRNGKey(1), steps, 1000, 20, None)
    loop = sim.resume_run(path, loop, header["spec"]["simulation"])
    loop = _with_budget(loop, 150)  # as the earlier version saved it: 3,000-step arrays
    save_checkpoint(path, loop, {"simulation": old}, {"steps": 1000, "checks": 50})
    resumed = simulate(model, graph, schedule, **slow, max_time=3000, checkpoint=path)
    np.testing.assert_array_equal(resumed.residuals, whole.residuals)
    np.testing.assert_array_equal(resumed.states, whole.states)


def _settings(schedule, step_size):
    """`simulate`'s checkpoint settings (all but the budget) of a plain float64 run."""
    return {
        "schedule": [schedule.stagger, schedule.delay, schedule.seed],
        "step_size": step_size,
        "momentum": 0.0,
        "precondition": False,
        "tol": 1e-12,
        "check_every": 20,
        "stall_checks": 100,
    }


def test_progress_hears_from_a_long_run_without_changing_it(graphs, capsys):
    """``progress(steps, residual)`` is called on the host about every 1,000 simulated
    steps; the run is the same with and without it. `StepTicker` turns the calls into
    lines on stderr for a person (here every call: ``every`` = 0)."""
    from hogwild.asynchrony._simulate import PROGRESS_STEPS
    from hogwild.experiments._async_eval import StepTicker

    graph, model = _small_graph(graphs), _model("gsd")
    heard = []
    schedule = Schedule(4, 3, seed=0)
    slow = {"step_size": 1e-3, "tol": 1e-12, "max_time": 3000}  # runs to its budget
    quiet = simulate(model, graph, schedule, **slow)
    loud = simulate(model, graph, schedule, **slow, progress=lambda t, r: heard.append((t, r)))
    np.testing.assert_array_equal(np.asarray(quiet.states), np.asarray(loud.states))
    assert int(loud.steps) == int(quiet.steps) >= 2 * PROGRESS_STEPS  # long enough to hear
    steps = [int(t) for t, _ in heard]
    assert steps == [PROGRESS_STEPS * (i + 1) for i in range(int(loud.steps) // PROGRESS_STEPS)]
    assert all(np.isfinite(float(r)) for _, r in heard)
    ticker = StepTicker(every=0.0)
    ticker.begin("chains gsd seed 0")
    ticker(*heard[0])
    line = capsys.readouterr().err
    assert line.startswith("  chains gsd seed 0: step 1,000  residual ")


def test_a_checkpointed_run_killed_midway_continues_to_the_same_run(graphs, tmp_path, monkeypatch):
    """With a ``checkpoint`` path, `simulate` runs in segments and saves its whole state
    between them; a process killed after its second save continues from the file (its first
    progress report is past the saved step) and ends with the trace of a run never
    stopped, bit for bit. Another run (another schedule seed)
    refuses that file rather than continue someone else's run."""
    import hogwild.asynchrony._simulate as sim
    from hogwild.train import CheckpointError

    monkeypatch.setattr(sim, "SEGMENT_STEPS", 500)
    graph, model = _small_graph(graphs), _model("gsd")
    schedule, path = Schedule(4, 3, seed=3), tmp_path / "run.ckpt"
    slow = {"step_size": 1e-3, "tol": 1e-12, "max_time": 3000}  # runs to its budget
    whole = simulate(model, graph, schedule, **slow)
    saved, save_run = [], sim.save_run

    def save_then_die(path, loop, fingerprint):
        save_run(path, loop, fingerprint)
        saved.append(int(loop.carry.t))
        if len(saved) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(sim, "save_run", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        simulate(model, graph, schedule, **slow, checkpoint=path, checkpoint_seconds=0.0)
    assert saved == [500, 1000] and path.is_file()
    with pytest.raises(CheckpointError, match="holds another simulated run"):
        simulate(model, graph, Schedule(4, 3, seed=4), **slow, checkpoint=path)
    monkeypatch.setattr(sim, "save_run", save_run)
    heard = []
    resumed = simulate(
        model, graph, schedule, **slow, checkpoint=path, progress=lambda t, r: heard.append(int(t))
    )
    assert heard == [2000, 3000]  # from step 1,000 on: the first 1,000 were not run again
    assert path.is_file()  # it ended on its budget: kept, so a larger one can continue it
    for field in ("states", "times", "residuals", "checks", "steps", "updates", "staleness"):
        np.testing.assert_array_equal(getattr(resumed, field), getattr(whole, field))
    assert bool(resumed.converged) == bool(whole.converged) is False
