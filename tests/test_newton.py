"""Newton's method with per-graph dense Hessians (`hogwild.solve.Newton`): the blocks are
the exact Hessian, the minimiser and the implicit gradient are L-BFGS's and CG's, steps
near H* converge quadratically, and training with it is training with L-BFGS."""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import hogwild
from hogwild import LBFGS, minimise
from hogwild.cli import main
from hogwild.models import make_model
from hogwild.models._base import ReceiverSlots
from hogwild.models._registry import cast_model
from hogwild.solve import ImplicitAdjoint, Newton
from hogwild.solve._newton_layout import MAX_BUCKETS, MAX_GROUPS, plan_buckets, plan_groups
from hogwild.tasks import ChainsConfig, make_chains
from hogwild.train import TrainConfig, fit
from hogwild.train._run import RunConfig, build_model, model_spec

TOL = 1e-10


@pytest.fixture
def batch(graphs):
    """Three graphs of different sizes and degrees (one edge feature), padded."""
    parts = [
        graphs.random(7, edge_size=1, extra=5),
        graphs.chain(4, edge_size=1),
        graphs.random(5, edge_size=1, extra=3, directed=True),
    ]
    return parts, graphs.batch(parts)


def _gsd():
    return cast_model(make_model("gsd", 2, 1, 1, seed=0), np.float64)


def _models(energy_model):
    gsd = _gsd()
    return {
        "node": energy_model("node"),
        "edge": energy_model("edge"),
        "attention": energy_model("attention"),
        "gsd": gsd,
    }


def _problem(name, batch, graphs, energy_model):
    """(graphs, their batch, model): GSD-GNN gets the undirected graphs only (its energy
    is convex on undirected graphs only)."""
    parts, graph = batch
    if name == "gsd":
        parts, graph = parts[:2], graphs.batch(parts[:2])
    return parts, graph, _models(energy_model)[name]


def test_traced_slots_equal_host_slots(batch):
    parts, graph = batch
    degree = Newton.for_graphs(parts).max_degree
    host, traced = ReceiverSlots.of(graph), ReceiverSlots.traced(graph, degree)
    assert host.degree == traced.degree == degree >= 3
    for name in ("rank", "node", "valid"):
        np.testing.assert_array_equal(getattr(traced, name), getattr(host, name), err_msg=name)


@eqx.filter_jit
def _blocks_and_dense_hessian(model, graph, h, v, solver):
    """(∇²E)⁻¹ v by ``solver``'s blocks, and the autodiff Hessian of E over all of H."""
    prepared = model.prepare(graph)
    x = solver._blocks(model, graph, h, prepared).solve(v)
    dense = jax.hessian(lambda f: model.energy(graph, f.reshape(h.shape), prepared))(h.ravel())
    return x, dense


def _layouts(solver: Newton, plan: str) -> Newton:
    """``solver`` with its planned buckets and groups, none (every block padded to the
    largest graph, every node in 1 + d slots), or the finest: one bucket per size and a
    degree group per in-degree above 1."""
    if plan == "planned":
        return solver
    if plan == "padded":
        return dataclasses.replace(solver, size_buckets=(), degree_groups=())
    sizes = sorted({s for s, _ in solver.size_buckets} | {4, 5, 7})
    groups = ((1, 0), *((d, 99) for d in range(2, solver.max_degree + 1)))
    return dataclasses.replace(
        solver, size_buckets=tuple((s, 3) for s in sizes), degree_groups=groups
    )


@pytest.mark.parametrize(
    ("name", "plan"),
    [(name, "planned") for name in ("node", "edge", "attention", "gsd")]
    + [(name, plan) for name in ("edge", "gsd") for plan in ("padded", "finest")],
)
def test_blocks_solve_the_dense_hessian(name, plan, batch, graphs, energy_model):
    """(∇²E)⁻¹ v by the per-graph blocks equals a dense solve with the autodiff Hessian
    of E over every node state (padding nodes included), at a random point, whatever
    the size buckets and degree groups."""
    parts, graph, model = _problem(name, batch, graphs, energy_model)
    solver = _layouts(Newton.for_graphs(parts), plan)
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(graph.num_nodes, model.hidden)))
    v = jnp.asarray(rng.normal(size=h.shape))
    x, dense = _blocks_and_dense_hessian(model, graph, h, v, solver)
    size = h.size
    expected = np.linalg.solve(np.asarray(dense).reshape(size, size), np.asarray(v).ravel())
    np.testing.assert_allclose(np.asarray(x).ravel(), expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", ["edge", "attention", "gsd"])
def test_newton_reaches_the_lbfgs_minimiser(name, batch, graphs, energy_model):
    parts, graph, model = _problem(name, batch, graphs, energy_model)
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    newton = minimise(model, graph, h0, solver=Newton.for_graphs(parts, tol=TOL))
    lbfgs = minimise(model, graph, h0, solver=LBFGS(tol=TOL))
    assert bool(newton.stats.converged) and bool(lbfgs.stats.converged)
    assert float(newton.stats.residual) <= TOL
    np.testing.assert_allclose(newton.value, lbfgs.value, atol=1e-9)
    assert int(newton.stats.steps) < int(lbfgs.stats.steps)


def test_reused_factors_reach_the_same_minimiser_and_precondition_the_adjoint(
    batch, graphs, energy_model
):
    """Chord steps (the last factors reused while ‖∇E‖ falls fast) reach the minimiser of
    a Newton that factorises at every step; the adjoint preconditioned by the forward's
    factors equals the one factorised at H*, in at most ``adjoint_products`` products
    (a fallback to the factorisation would count one more); a warm start already at
    tolerance takes no step, makes no factorisation, and its adjoint factorises."""
    parts, graph, model = _problem("edge", batch, graphs, energy_model)
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    solver = Newton.for_graphs(parts, tol=TOL)
    fresh = dataclasses.replace(solver, reuse_ratio=0.0, adjoint_products=0)
    h, stats, factors = solver.solve_factored(model, graph, h0)
    h_fresh, stats_fresh = fresh.solve(model, graph, h0)
    assert bool(stats.converged) and bool(stats_fresh.converged) and bool(factors[1])
    np.testing.assert_allclose(h, h_fresh, atol=1e-9)
    c = jnp.asarray(np.random.default_rng(2).normal(size=h.shape)) * graph.node_mask[:, None]
    exact, exact_stats = fresh.adjoint(model, graph, h, c, 1e-10, factors)
    reused, reused_stats = solver.adjoint(model, graph, h, c, 1e-10, factors)
    assert int(exact_stats.steps) == 1 and bool(reused_stats.converged)
    assert 1 <= int(reused_stats.steps) <= solver.adjoint_products
    np.testing.assert_allclose(reused, exact, rtol=1e-7, atol=1e-9)
    _, warm, none = solver.solve_factored(model, graph, h)
    assert int(warm.steps) == 0 and not bool(none[1])
    lam, warm_stats = solver.adjoint(model, graph, h, c, 1e-10, none)
    assert int(warm_stats.steps) == 1
    np.testing.assert_allclose(lam, exact, rtol=1e-7, atol=1e-9)


def test_factors_are_reused_only_where_factorising_is_dear(batch, graphs, energy_model):
    """`Newton.economised`: small graphs (a factorisation worth a fraction of a gradient)
    factorise at every step and adjoint; a batch holding one graph of 300 nodes, whose
    block costs many gradients, keeps the reuse."""
    parts, graph = batch
    model = energy_model("edge")
    small = Newton.for_graphs(parts).economised(model, graph)
    assert (small.reuse_ratio, small.adjoint_products) == (0.0, 0)
    large = graphs.batch([graphs.random(300, edge_size=1, extra=300)])
    kept = Newton.for_graphs([large]).economised(model, large)
    assert kept.reuse_ratio > 0 and kept.adjoint_products > 0


def test_newton_converges_quadratically_near_the_minimiser(batch, energy_model):
    """From H* + δ (‖δ‖ ~ 1e-2) full Newton steps square the gradient's norm: at most
    three steps reach ‖∇E‖ <= 1e-12, where a linearly converging method needs many."""
    parts, graph = batch
    model = energy_model("edge")
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    solver = Newton.for_graphs(parts, tol=1e-12)
    star = minimise(model, graph, h0, solver=solver).value
    delta = 1e-2 * jnp.asarray(np.random.default_rng(1).normal(size=star.shape))
    h = star + delta * graph.node_mask[:, None]
    one_step = dataclasses.replace(solver, max_steps=1)
    residuals = [float(jnp.linalg.norm(jax.grad(model.energy, argnums=1)(graph, h)))]
    for _ in range(3):
        sol = minimise(model, graph, h, solver=one_step)
        h = sol.value
        residuals.append(float(sol.stats.residual))
    assert residuals[0] > 1e-3 and residuals[3] <= 1e-12, residuals
    # r₂ ≤ C r₁² with the constant of the first step, C = r₁ / r₀² (up to 10x).
    assert residuals[2] <= 10 * residuals[1] ** 3 / residuals[0] ** 2, residuals


def test_a_block_without_cholesky_factor_takes_the_gradient_step(batch):
    """GSD-GNN on a directed graph is not convex (its Hessian has a negative eigenvalue
    here): that graph's Newton direction falls back to −∇E, and the step stays finite
    and lowers E."""
    parts, graph = batch
    gsd = _gsd()
    h0 = jnp.zeros((graph.num_nodes, gsd.hidden))
    solver = Newton.for_graphs(parts, max_steps=1)
    blocks = solver._blocks(gsd, graph, h0, gsd.prepare(graph))
    layout = blocks.layout
    bucket, entry = int(layout.graph_bucket[2]), int(layout.graph_entry[2])
    assert not np.isfinite(np.asarray(blocks.factors[bucket][entry])).all()
    sol = minimise(gsd, graph, h0, solver=solver)
    assert np.isfinite(np.asarray(sol.value)).all() and int(sol.stats.steps) == 1
    assert float(gsd.energy(graph, sol.value)) < float(gsd.energy(graph, h0))


def test_nodes_past_their_group_still_reach_the_minimiser(batch, energy_model):
    """Every node in 2 slots (in-degree bound 1, no wider group): nodes of in-degree above
    1 lose their coupling terms past slot 1, so the steps are no longer exact Newton
    steps, but they descend and reach L-BFGS's minimiser: slower, never wrong."""
    parts, graph = batch
    model = energy_model("edge")
    planned = Newton.for_graphs(parts, tol=TOL, max_steps=1000)
    narrow = dataclasses.replace(planned, degree_groups=((1, 0),))
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    exact, truncated = (minimise(model, graph, h0, solver=s) for s in (planned, narrow))
    lbfgs = minimise(model, graph, h0, solver=LBFGS(tol=TOL))
    assert bool(truncated.stats.converged) and float(truncated.stats.residual) <= TOL
    np.testing.assert_allclose(truncated.value, lbfgs.value, atol=1e-9)
    assert int(truncated.stats.steps) > int(exact.stats.steps)


def test_a_batch_past_the_plan_is_refused(batch):
    """A Newton sized for other graphs refuses a batch it cannot hold exactly: more
    graphs of a size than its bucket holds, more wide nodes than a group holds, a
    larger graph or degree."""
    parts, graph = batch
    planned = Newton.for_graphs(parts)
    planned.check_batch(graph)
    for change in (
        {"size_buckets": ((7, 1),)},
        {"degree_groups": ((1, 0), (4, 1))},
        {"max_nodes": 6},
        {"max_degree": 2, "degree_groups": ()},
    ):
        with pytest.raises(ValueError, match="sized for other graphs"):
            dataclasses.replace(planned, **change).check_batch(graph)


def _dense_solve_error(solver, graph, model) -> float:
    """Largest difference between (∇²E)⁻¹ v by ``solver``'s blocks and a dense solve."""
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(graph.num_nodes, model.hidden)))
    v = jnp.asarray(rng.normal(size=h.shape))
    x, dense = _blocks_and_dense_hessian(model, graph, h, v, solver)
    expected = np.linalg.solve(np.asarray(dense).reshape(h.size, h.size), np.asarray(v).ravel())
    return float(np.max(np.abs(np.asarray(x).ravel() - expected)))


def test_a_plan_fitted_to_its_batches_holds_them_exactly_and_nothing_more(
    batch, graphs, energy_model
):
    """A plan counted on a dataset, fitted to a batch of part of it, keeps only the
    buckets and groups the batch uses, each with exactly the batch's count (one fewer is
    refused), solves that batch's blocks exactly, and refuses a graph the batch lacks."""
    parts, graph = batch
    big = graphs.random(30, edge_size=1, extra=40)
    dataset = Newton.for_graphs([*parts, big, graphs.chain(4, edge_size=1)])
    fitted = dataset.fitted([graph])
    assert len(fitted.size_buckets) < len(dataset.size_buckets)
    assert fitted.max_nodes < dataset.max_nodes and fitted.max_degree < dataset.max_degree
    fitted.check_batch(graph)
    for i, (size, count) in enumerate(fitted.size_buckets):
        fewer = (*fitted.size_buckets[:i], (size, count - 1), *fitted.size_buckets[i + 1 :])
        with pytest.raises(ValueError, match="sized for other graphs"):
            dataclasses.replace(fitted, size_buckets=fewer).check_batch(graph)
    with pytest.raises(ValueError, match="sized for other graphs"):
        fitted.check_batch(graphs.batch([*parts, big]))
    assert _dense_solve_error(fitted, graph, energy_model("edge")) < 1e-9


def test_solvers_joined_and_fitted_hold_every_members_batches(batch, graphs, energy_model):
    """Two members' plans from different graphs, joined (`Newton.joined`) and fitted to
    both members' batches: each batch is held exactly and solved exactly."""
    parts, graph = batch
    other = graphs.batch([graphs.random(12, edge_size=1, extra=20), graphs.chain(9, edge_size=1)])
    mine, theirs = Newton.for_graphs(parts), Newton.for_graphs([other])
    joined = Newton.joined([mine, theirs]).fitted([graph, other])
    model = energy_model("edge")
    for g in (graph, other):
        joined.check_batch(g)
        assert _dense_solve_error(joined, g, model) < 1e-9


def test_plans_hold_every_graph_and_node():
    """Size buckets hold every graph in at most `MAX_BUCKETS` sizes (one when all are
    equal); degree groups put every node in a group whose bound covers it, the first
    narrow when few nodes are wide (PROTEINS-like) and one group when degrees are even."""
    rng = np.random.default_rng(0)
    sizes = np.concatenate([rng.integers(4, 80, 1000), [150, 300, 620]])
    buckets = plan_buckets(sizes)
    bounds = [s for s, _ in buckets]
    assert len(buckets) <= MAX_BUCKETS and bounds == sorted(bounds) and bounds[-1] == 620
    held = np.searchsorted(bounds, sizes)
    np.testing.assert_array_equal(np.bincount(held, minlength=len(bounds)), [c for _, c in buckets])
    assert plan_buckets([100] * 12) == ((100, 12),)
    degrees = np.concatenate([rng.integers(0, 7, 40000), rng.integers(9, 26, 50)])
    groups = plan_groups(degrees)
    bounds = [b for b, _ in groups]
    counts = np.bincount(np.searchsorted(bounds, degrees), minlength=len(bounds))
    assert groups[0][1] == 0 and [c for _, c in groups[1:]] == list(counts[1:])
    assert bounds[-1] == degrees.max() and bounds[0] < 9 and len(groups) <= MAX_GROUPS
    assert plan_groups([2] * 50 + [1] * 2) == ((2, 0),)


def _readout_loss(model, graph, h, target):
    y = model.readout(graph, h)
    return jnp.sum((y - target) ** 2 * graph.node_mask[:, None])


@pytest.mark.parametrize("name", ["edge", "gsd"])
def test_implicit_gradient_through_newton_equals_cg(name, batch, graphs, energy_model):
    """dL/dθ with Newton's Cholesky adjoint equals the L-BFGS solve with CG's adjoint."""
    parts, graph, model = _problem(name, batch, graphs, energy_model)
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    target = jnp.asarray(np.random.default_rng(2).normal(size=(graph.num_nodes, 1)))
    adjoint = ImplicitAdjoint(cg_tol=1e-12)

    def gradient(solver):
        def loss(m):
            sol = minimise(m, graph, h0, solver=solver, adjoint=adjoint)
            return _readout_loss(m, graph, sol.value, target)

        grads = eqx.filter_grad(loss)(model)
        return np.asarray(ravel_pytree(eqx.filter(grads, eqx.is_inexact_array))[0])

    newton = gradient(Newton.for_graphs(parts, tol=TOL))
    cg = gradient(LBFGS(tol=TOL))
    assert np.linalg.norm(cg) > 1e-3
    np.testing.assert_allclose(newton, cg, rtol=1e-7, atol=1e-9 * np.linalg.norm(cg))


def test_newton_needs_the_model_and_its_sizes(batch, energy_model):
    parts, graph = batch
    model = energy_model("edge")
    h0 = jnp.zeros((graph.num_nodes, model.hidden))
    with pytest.raises(TypeError, match="local Hessians"):
        Newton.for_graphs(parts).run(lambda h: jnp.sum(h**2), h0)
    with pytest.raises(ValueError, match="for_graphs"):
        minimise(model, graph, h0, solver=Newton())


CHAINS = dict(num_graphs=8, length=8, seed=0)
#: Three float64 epochs, solves to 1e-10, adjoints to 1e-12: solvers agree to round-off.
COMMON = dict(epochs=3, learning_rate=0.01, x64=True, solver_tol=TOL, adjoint_tol=1e-12)


@functools.cache
def _chains_run(energy_solver: str, epochs: int = 3, state=None):
    """An energy-edge run on tiny chains (`CHAINS`, `COMMON`), from ``state`` if given
    (cached for the module's tests when it is not)."""
    data = make_chains(ChainsConfig(**CHAINS))
    config = TrainConfig(energy_solver=energy_solver, **{**COMMON, "epochs": epochs})
    spec = model_spec(RunConfig("chains", "energy-edge", {}, config), data)
    return fit(build_model(spec, seed=0), data, config, state=state)


def test_training_with_newton_is_training_with_lbfgs():
    """Three float64 epochs give the same losses with either energy solver (both solve
    to 1e-10, the adjoints to 1e-12), and Newton's solves converge in fewer steps."""
    results = {solver: _chains_run(solver) for solver in ("lbfgs", "newton")}
    losses = {s: [h["train_loss"] for h in r.history] for s, r in results.items()}
    np.testing.assert_allclose(losses["newton"], losses["lbfgs"], rtol=1e-7)
    newton, lbfgs = results["newton"].train_solver, results["lbfgs"].train_solver
    assert newton["unconverged"] == 0 and results["newton"].train_adjoint["unconverged"] == 0
    assert newton["mean_steps"] < lbfgs["mean_steps"]


def test_auto_takes_newton_where_it_pays(graphs):
    """The default energy_solver "auto": Newton for batches of small, sparse graphs;
    L-BFGS for a graph too large, a degree too high, or no graphs to size it from."""
    config = TrainConfig()
    assert config.energy_solver == "auto"
    small = [graphs.chain(20), graphs.random(12, extra=4)]
    assert isinstance(config.solver("optimisation", small, [4], hidden=2), Newton)
    assert isinstance(config.solver("optimisation", [graphs.chain(129)], [2], 2), LBFGS)
    star = hogwild.graph_from_edges(np.zeros((10, 2)), [(0, k) for k in range(1, 10)])
    assert isinstance(config.solver("optimisation", [star], [2], 2), LBFGS)
    assert isinstance(config.solver("optimisation"), LBFGS)
    assert isinstance(TrainConfig(energy_solver="newton").solver("optimisation", [star]), Newton)


def test_hessian_columns_are_the_generic_count_or_the_structured_cost(energy_model):
    """k(1 + d) for a generic energy; the energy GNN's structured cost, at most that."""
    from hogwild.models._energy import STRUCTURED_HESSIAN_COLUMNS

    assert _gsd().hessian_columns(9) == 2 * 10
    energy = energy_model("edge")
    assert energy.hessian_columns(9) == STRUCTURED_HESSIAN_COLUMNS < 2 * 10
    assert energy.hessian_columns(1) == 2 * 2


def test_auto_falls_back_to_newton_only_where_it_fits(graphs, energy_model):
    """ "auto"'s fallback: Newton for a star (too many columns to start with, blocks
    small) and for blocks too wide to start with, none for blocks beyond `AUTO_MEMORY`,
    none where Newton was chosen or not asked for. It takes over once L-BFGS costs
    `AUTO_SWITCH` times what a Newton step costs: the local Hessians, k(1 + d)
    generically, less for the energy GNN's structured ones."""
    import hogwild.solve._newton as newton_module
    from hogwild.models._energy import STRUCTURED_HESSIAN_COLUMNS

    config, star = (
        TrainConfig(),
        hogwild.graph_from_edges(np.zeros((10, 2)), [(0, k) for k in range(1, 10)]),
    )
    fallback = config.auto_fallback("optimisation", [star], [2], 2)
    assert isinstance(fallback, Newton) and fallback.columns(2) == 2 * 10
    for model, cost in ((_gsd(), 2 * 10), (energy_model("edge"), STRUCTURED_HESSIAN_COLUMNS)):
        assert fallback.step_cost(model) == cost
        switch = newton_module.AUTO_SWITCH * cost
        assert not fallback.outpaces(switch, cost) and fallback.outpaces(switch + 1, cost)
    wide = config.auto_fallback("optimisation", [graphs.chain(129)], [2], 2)
    assert isinstance(wide, Newton) and not wide.pays([2], 2)  # 258 wide: L-BFGS first
    assert config.auto_fallback("optimisation", [graphs.chain(4000)], [1], 2) is None  # 1.5 GiB
    assert config.auto_fallback("optimisation", [graphs.chain(20)], [2], 2) is None
    lbfgs = TrainConfig(energy_solver="lbfgs")
    assert lbfgs.auto_fallback("optimisation", [star], [2], 2) is None
    assert config.auto_fallback("fixed-point", [star], [2], 2) is None


def test_a_newton_step_costs_its_factorisations_too(graphs, energy_model):
    """On a batch, a Newton step costs its local Hessians plus Σ capacity (k · size)³ / 3
    over the flops of one gradient of E (XLA's count, positive, remembered): larger graphs
    make a step dearer, so "auto" switches later."""
    import hogwild.solve._newton as newton_module
    from hogwild.models._energy import STRUCTURED_HESSIAN_COLUMNS

    model = energy_model("edge")
    costs = []
    for length in (20, 120):
        chains = [graphs.chain(length, edge_size=1)] * 3
        newton = Newton.for_graphs(chains)
        batch = hogwild.batch_graphs(chains)
        assert newton.factorisation_flops(3, 2) == sum(
            min(c, 3) * (2 * s) ** 3 / 3 for s, c in newton._buckets(3)
        )
        flops = newton_module.gradient_flops(model, batch)
        assert flops > 0 and newton_module.gradient_flops(model, batch) == flops
        factor = newton.factorisation_flops(3, 2) / flops
        cost = newton.step_cost(model, batch)
        assert cost == pytest.approx(STRUCTURED_HESSIAN_COLUMNS + factor)
        costs.append(cost)
    assert costs[1] > costs[0] > STRUCTURED_HESSIAN_COLUMNS


def test_auto_hands_training_to_newton_once_lbfgs_is_outpaced(monkeypatch):
    """With the start rule forcing L-BFGS and the switch rule met at once: epoch 1 solves
    by L-BFGS and CG and says it switched; epochs 2-3 by Newton (one factorisation per
    adjoint); the losses are those of an all-Newton run (same minimisers, 1e-10), and a
    run continued after epoch 1 stays on Newton."""
    import hogwild.solve._newton as newton_module

    monkeypatch.setattr(newton_module, "AUTO_COLUMNS", 0)
    monkeypatch.setattr(newton_module, "AUTO_SWITCH", 0)
    auto = _chains_run.__wrapped__("auto")
    assert [h.get("solver") for h in auto.history] == ["newton", None, None]
    assert auto.history[0]["adjoint_steps"] > 1
    assert [h["adjoint_steps"] for h in auto.history[1:]] == [1.0, 1.0]
    losses = [[h["train_loss"] for h in r.history] for r in (auto, _chains_run("newton"))]
    np.testing.assert_allclose(*losses, rtol=1e-7)
    first = _chains_run.__wrapped__("auto", 1)
    assert first.history[0]["solver"] == "newton"
    resumed = _chains_run.__wrapped__("auto", state=first.state)
    assert [h["adjoint_steps"] for h in resumed.history[1:]] == [1.0, 1.0]


def test_energy_solver_is_checked():
    with pytest.raises(ValueError, match="unknown energy_solver 'cholesky'"):
        TrainConfig(energy_solver="cholesky")
    with pytest.raises(ValueError, match="sized from the graphs"):
        TrainConfig(energy_solver="newton").solver("optimisation")


def test_cli_refuses_newton_blocks_that_do_not_fit(tmp_path, capsys):
    """64 (padded) chains of 1000 nodes in one batch need 5.7 GiB of Hessian blocks: a
    one-line error and exit status 2 before anything is compiled or written, so the
    same directory takes the corrected command."""
    args = ["--task", "chains", "--model", "energy-edge", "--length", "1000", "--graphs", "100"]
    out = tmp_path / "run"
    assert main(["train", *args, "--epochs", "1", "--quiet", "--out", str(out),
                 "--set", "energy_solver=newton"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch_size" in err[0] and "GiB" in err[0], err
    assert not out.exists() or not any(out.iterdir())
