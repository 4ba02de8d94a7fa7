"""Mixed precision (issue 11): a float32 model's solves run in float32 first and are
accepted only when float64 confirms them; otherwise float64 finishes from that point.

The models here are quadratic energies E = ½ hᵀAh − bᵀh + c (and a linear fixed point
for GMRES): their exact answers are known, so every check is against the truth.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hogwild.solve import LBFGS, ImplicitAdjoint
from hogwild.solve._implicit import adjoint_solve, run
from hogwild.solve._linear import restarted_gmres

jax.config.update("jax_enable_x64", True)
N, TOL = 200, 1e-4


class Quadratic(eqx.Module):
    """E(H) = ½ vec(H)ᵀ A vec(H) − bᵀ vec(H) + c on states (N, 1); no graph needed."""

    a: jax.Array
    b: jax.Array
    c: jax.Array
    family: ClassVar[str] = "optimisation"

    def prepare(self, graph):
        del graph

    def energy(self, graph, h, prepared=None):
        v = h[:, 0]
        return 0.5 * v @ (self.a @ v) - self.b @ v + self.c


def quadratic(log_cond: float, scale: float, offset: float, seed: int = 0) -> Quadratic:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    a = (q * (0.04 * np.geomspace(1.0, 10.0**log_cond, N))) @ q.T
    b = scale * rng.normal(size=N)
    return Quadratic(*(jnp.asarray(x, jnp.float32) for x in (a, b, offset)))


def true_gradient(model: Quadratic, h) -> float:
    """‖A h − b‖ in float64."""
    a, b = (np.asarray(x, np.float64) for x in (model.a, model.b))
    return float(np.linalg.norm(a @ np.asarray(h, np.float64)[:, 0] - b))


def solved(model, precision):
    h0 = jnp.zeros((N, 1), jnp.float32)
    return jax.jit(lambda m: run(m, None, h0, LBFGS(TOL, 5000, precision)))(model)


def test_easy_solve_is_float32_only_and_confirmed():
    """A well-conditioned energy: float32 gets there; the mixed solve takes exactly the
    float32 solve's steps (no float64 step), and its answer meets the tolerance in float64."""
    model = quadratic(log_cond=1.0, scale=1.0, offset=0.0)
    narrow, mixed = solved(model, None), solved(model, "float64")
    assert bool(narrow.stats.converged) and bool(mixed.stats.converged)
    assert int(mixed.stats.steps) == int(narrow.stats.steps)
    assert true_gradient(model, mixed.value) <= TOL * 1.01  # float32 rounding of H itself


def test_stiff_solve_that_float32_cannot_finish_is_finished_in_float64(optimised):
    """Condition number 1e4, large b and energy offset: float32's ‖∇E‖ floors above the
    tolerance; the mixed solve still converges, measured in float64 (before the answer
    is rounded back to float32)."""
    model = quadratic(log_cond=4.0, scale=300.0, offset=1e4)
    narrow = solved(model, None)
    assert not bool(narrow.stats.converged)
    mixed = solved(model, "float64")
    assert bool(mixed.stats.converged) and float(mixed.stats.residual) <= TOL


@pytest.mark.parametrize("log_cond, scale", [(1.0, 1.0), (4.0, 300.0)])
def test_mixed_adjoint_meets_the_tolerance_in_float64(log_cond, scale):
    """The adjoint Aλ = c: accepted from float32 CG only when its float64 residual is
    within tolerance, otherwise continued in float64; the reported residual is the truth."""
    model = quadratic(log_cond, scale, 0.0)
    h_star = jnp.zeros((N, 1), jnp.float32)
    c = jnp.asarray(np.random.default_rng(1).normal(size=(N, 1)), jnp.float32)
    lam, stats = jax.jit(
        lambda m: adjoint_solve(m, None, h_star, c, ImplicitAdjoint(1e-4, 2000, "float64"))
    )(model)
    a = np.asarray(model.a, np.float64)
    truth = np.linalg.solve(a, np.asarray(c, np.float64))
    assert bool(stats.converged)
    rel = np.linalg.norm(np.asarray(lam, np.float64) - truth) / np.linalg.norm(truth)
    assert rel <= 1e-4 * 10.0**log_cond * 2  # forward error <= condition number × residual


def test_gmres_counts_the_products_it_takes_and_restarts():
    """A nonsymmetric system: the answer equals a dense solve; an easy system is solved in
    fewer products than one cycle (counted exactly, not rounded up to the cycle length);
    a harder one needs several cycles of a short restart."""
    rng = np.random.default_rng(0)
    n = 120
    easy = np.eye(n) + 0.3 * rng.normal(size=(n, n)) / np.sqrt(n)
    hard = np.eye(n) + 0.95 * rng.normal(size=(n, n)) / np.sqrt(n)
    b = rng.normal(size=n)
    for a, restart in ((easy, 60), (hard, 10)):
        aj = jnp.asarray(a)
        x, stats = restarted_gmres(lambda v, aj=aj: aj @ v, jnp.asarray(b), 1e-10, 2000, restart)
        assert bool(stats.converged)
        assert np.allclose(np.asarray(x), np.linalg.solve(a, b), atol=1e-8)
        if restart == 60:
            assert int(stats.steps) < 60
        else:
            assert int(stats.steps) > 10


def test_gmres_continues_from_a_start():
    """From a start that already solves the system GMRES takes no product; from a start
    near the answer (a looser solve's, as the wide phase of a mixed-precision adjoint
    gets) it needs fewer products than from 0 and reaches the same tolerance; b = 0 has
    the answer 0 whatever the start."""
    rng = np.random.default_rng(1)
    n = 120
    a = jnp.asarray(np.eye(n) + 0.95 * rng.normal(size=(n, n)) / np.sqrt(n))
    b = jnp.asarray(rng.normal(size=n))

    def matvec(v):
        return a @ v

    cold, cold_stats = restarted_gmres(matvec, b, 1e-10, 2000, 10)
    _, at_answer = restarted_gmres(matvec, b, 1e-10, 2000, 10, x0=cold)
    assert int(at_answer.steps) == 0 and bool(at_answer.converged)
    loose, _ = restarted_gmres(matvec, b, 1e-4, 2000, 10)
    warm, warm_stats = restarted_gmres(matvec, b, 1e-10, 2000, 10, x0=loose)
    assert bool(warm_stats.converged) and float(warm_stats.residual) <= 1e-10
    assert int(warm_stats.steps) < int(cold_stats.steps)
    np.testing.assert_allclose(np.asarray(warm), np.asarray(cold), atol=1e-8)
    zero, zero_stats = restarted_gmres(matvec, jnp.zeros(n), 1e-10, 2000, 10, x0=cold)
    assert not np.any(np.asarray(zero)) and int(zero_stats.steps) == 0


def test_newton_solves_to_the_wide_dtypes_tolerance_and_first_order_solvers_are_told():
    """Newton's default tolerance under mixed precision is float64's 1e-6 (issue 10: at
    float32's 1e-4 warm starts were accepted without a step on chains and H* lagged by up
    to 1e-4/μ); L-BFGS keeps the model dtype's 1e-4 unless told. Told 1e-6, a mixed
    L-BFGS solve from a float32 answer that meets 1e-4 still steps, ends within 1e-6 in
    float64, and lands nearer the exact minimiser."""
    from hogwild.solve import Newton

    f32 = jnp.zeros((N, 1), jnp.float32)
    assert Newton(precision="float64").tolerance(f32) == 1e-6
    assert Newton().tolerance(f32) == 1e-4 == LBFGS(precision="float64").tolerance(f32)
    model = quadratic(log_cond=2.0, scale=1.0, offset=0.0)
    warm = solved(model, None)
    assert bool(warm.stats.converged) and float(warm.stats.residual) > 1e-6
    mixed = jax.jit(lambda m, h: run(m, None, h, LBFGS(1e-6, 5000, "float64")))(model, warm.value)
    assert int(mixed.stats.steps) >= 1
    assert bool(mixed.stats.converged) and float(mixed.stats.residual) <= 1e-6
    a, b = (np.asarray(x, np.float64) for x in (model.a, model.b))
    exact = np.linalg.solve(a, b)
    error = lambda h: np.linalg.norm(np.asarray(h, np.float64)[:, 0] - exact)  # noqa: E731
    assert error(mixed.value) < error(warm.value) / 10


def test_float32_phase_stops_at_its_rounding_floor_and_float64_finishes(monkeypatch):
    """Condition 1e2, large b and offset: float32's ‖∇E‖ floors at ~35× the tolerance.
    With patience, float32 alone stops there long before max_steps (not converged); the
    mixed solve hands over to float64 earlier and takes fewer steps in all than when the
    float32 phase spins to `NARROW_STEPS`, and both meet the tolerance in float64."""
    import hogwild.solve._implicit as implicit

    model = quadratic(log_cond=2.0, scale=300.0, offset=1e4)
    h0 = jnp.zeros((N, 1), jnp.float32)
    floored = jax.jit(lambda m: run(m, None, h0, LBFGS(TOL, 5000, patience=15)))(model)
    assert not bool(floored.stats.converged) and int(floored.stats.steps) < 500
    assert true_gradient(model, floored.value) > TOL
    early = solved(model, "float64")
    monkeypatch.setattr(implicit, "NARROW_PATIENCE", None)
    late = solved(model, "float64")
    assert bool(early.stats.converged) and bool(late.stats.converged)
    assert float(early.stats.residual) <= TOL and float(late.stats.residual) <= TOL
    assert int(early.stats.steps) < int(late.stats.steps)


def test_patience_never_counts_far_from_the_tolerance():
    """Condition 1e4: L-BFGS's ‖∇E‖ goes tens of steps without halving early on; with
    patience 15 the float32 solve is not cut there — it runs exactly the steps it runs
    without patience until ‖∇E‖ is within `LBFGS.FLOOR_ZONE` × tol."""
    model = quadratic(log_cond=4.0, scale=300.0, offset=1e4)
    h0 = jnp.zeros((N, 1), jnp.float32)
    with_, without = (
        jax.jit(lambda m, p=p: run(m, None, h0, LBFGS(TOL, 2000, patience=p)))(model)
        for p in (15, None)
    )
    assert float(without.stats.residual) > LBFGS.FLOOR_ZONE * TOL  # never near the floor
    assert int(with_.stats.steps) == int(without.stats.steps) == 2000
