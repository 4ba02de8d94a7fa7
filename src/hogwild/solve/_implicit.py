"""Implicit differentiation of node states defined by a root g_θ(H*) = 0 (Appendix C).

Both implicit families are roots: an energy minimiser satisfies g = ∇_H E = 0, a fixed
point satisfies g = H − F(H) = 0. By the implicit function theorem

    dL/dθ = −(∂g/∂θ)ᵀ λ,   (∂g/∂H)ᵀ λ = ∂L/∂H*   (Eq. 36–37),

so the backward pass is one linear solve at H* and one vector-Jacobian product, with no
unrolling of the forward loop. ∂g/∂H is the Hessian of E (symmetric positive definite:
conjugate gradients) or I − ∂F/∂H (nonsymmetric: GMRES).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp

from ..graph import Graph
from ._linear import conjugate_gradient, restarted_gmres, true_residual_stats
from ._newton import Newton
from ._precision import cast_floats, narrowed, working_dtype
from ._solvers import LBFGS, SolveStats, _norm, default_tolerance


class ImplicitAdjoint(eqx.Module):
    """Implicit differentiation; the adjoint system is solved by CG (energies) or GMRES
    (fixed points) to relative residual ``cg_tol`` in at most ``cg_max_steps`` products.

    Default tolerance: 1e-10 in float64, 1e-4 in float32 — the forward solve's relative
    accuracy there, and above the float32 floor of the true residual ‖b − Aλ‖/‖b‖ of a
    stiff trained energy (measured 1e-5 to 4e-5 on the quick-start model).
    ``precision``: the dtype to solve in (``"float64"`` in a float32 model: mixed
    precision, see ``_precision``; the tolerance stays the model dtype's).
    """

    cg_tol: float | None = None
    cg_max_steps: int = 1000
    precision: str | None = None

    def tolerance(self, dtype) -> float:
        if self.cg_tol is not None:
            return self.cg_tol
        return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-4


class UnrolledAdjoint(eqx.Module):
    """Backpropagation through every solver step (memory grows with the step count)."""


class Solution(eqx.Module):
    """Node states ``value`` (nodes, hidden) with the solver's `SolveStats`."""

    value: jax.Array
    stats: SolveStats


def _is_energy(model) -> bool:
    return model.family == "optimisation"


def objective(model, graph: Graph, prepared=None):
    """What the forward solver works on: H -> E(G, H) for energies, H -> F(G, H) otherwise.

    The H-independent part (``model.prepare``) is computed once here, not per evaluation.
    """
    prepared = model.prepare(graph) if prepared is None else prepared
    if _is_energy(model):
        return lambda h: model.energy(graph, h, prepared)
    return lambda h: model.fixed_point_map(graph, h, prepared)


def root(model, graph: Graph, h, prepared=None):
    """g_θ(H): ∇_H E(G, H) for an energy, H − F(G, H) for a fixed point."""
    fn = objective(model, graph, prepared)
    return jax.grad(fn)(h) if _is_energy(model) else h - fn(h)


#: Budget of the first, model-precision attempt of a mixed-precision solve (see `run`).
NARROW_STEPS = 100
#: The narrow L-BFGS phase also ends after this many steps without halving ‖∇E‖ (its
#: rounding floor; `LBFGS.patience`). Stiff energies on PROTEINS went at most 11 steps
#: without halving it above 1e-4 in float32 (session 39).
NARROW_PATIENCE = 15


def _summed(first: SolveStats, second: SolveStats, dtype) -> SolveStats:
    """The stats of two solves run one after the other (the second decides convergence)."""
    steps = first.steps + second.steps
    return SolveStats(steps, second.residual.astype(dtype), second.converged)


def run(model, graph: Graph, h0, solver) -> Solution:
    """The forward solve, not differentiated.

    With ``solver.precision`` wider than the model's (mixed precision) the solve runs in
    the model's dtype first (at most `NARROW_STEPS` steps, to that dtype's tolerance;
    L-BFGS also stops when ‖∇E‖ sits at its rounding floor: `NARROW_PATIENCE`) and is
    then continued in the wide dtype from where it stopped, to the wide dtype's
    tolerance (`AbstractSolver.tolerance`). Convergence is always decided by the wide
    dtype's ‖∇E‖, so a float32 answer is accepted only when float64 confirms it; float32
    does the cheap first part of the descent, float64 the last digits and whatever
    float32 could not do at its rounding floor on a stiff energy.
    """
    if isinstance(solver, Newton):
        return Solution(*solver.solve(model, graph, h0))
    dtype = working_dtype(getattr(solver, "precision", None), h0.dtype)
    if dtype == h0.dtype:
        h, stats = solver.run(objective(model, graph), h0)
        return Solution(h, stats)
    tol = solver.tolerance(h0)  # the wide dtype's unless given
    narrow = dataclasses.replace(
        solver,
        tol=max(tol, default_tolerance(h0.dtype)),  # the narrow dtype stops at its own floor
        precision=None,
        max_steps=jnp.minimum(solver.max_steps, NARROW_STEPS),
    )
    if isinstance(narrow, LBFGS):
        narrow = dataclasses.replace(narrow, patience=NARROW_PATIENCE)
    h, first = narrow.run(objective(model, graph), h0)
    m, g, h_wide = cast_floats((model, graph, h), dtype)
    residual = _norm(root(m, g, h_wide))

    def accept(h_wide):
        return h_wide, SolveStats(first.steps, residual, residual <= tol)

    def widen(h_wide):
        wide = dataclasses.replace(solver, tol=tol, max_steps=solver.max_steps - first.steps)
        h_wide, second = wide.run(objective(m, g), h_wide)
        return h_wide, _summed(first, second, dtype)

    h_wide, stats = jax.lax.cond(residual <= tol, accept, widen, h_wide)
    return Solution(h_wide.astype(h0.dtype), narrowed(stats, h0.dtype))


def _adjoint_operator(model, graph: Graph, h_star):
    """v -> (∂g/∂H at H*)ᵀ v: a Hessian-vector product for energies (symmetric),
    v − (∂F/∂H)ᵀ v for fixed points."""
    prepared = model.prepare(graph)

    def g(h):
        return root(model, graph, h, prepared)

    if _is_energy(model):
        return jax.linearize(g, h_star)[1]
    vjp = jax.vjp(g, h_star)[1]
    return lambda v: vjp(v)[0]


def _linear_solve(model, operator, cotangent, tol, max_steps, start=None):
    if _is_energy(model):
        return conjugate_gradient(operator, cotangent, tol, max_steps, x0=start)
    return restarted_gmres(operator, cotangent, tol, max_steps, x0=start)


def adjoint_solve(
    model, graph: Graph, h_star, cotangent, adjoint: ImplicitAdjoint, solver=None, factors=None
):
    """(λ, stats) with λ solving (∂g/∂H at H*)ᵀ λ = cotangent: CG on Hessian-vector
    products for energies, GMRES on λ − (∂F/∂H)ᵀ λ for fixed points, or, when the forward
    ``solver`` is `Newton`, its per-graph Cholesky factors (``factors``: the forward's, as
    a preconditioner: `Newton.adjoint`). ``stats`` count the
    products and give the true relative residual, like a forward solve's.

    Mixed precision as in `run`: CG in the model's dtype first (at most `NARROW_STEPS`
    products), then in the wide dtype from its λ; the wide dtype's true residual decides.
    """
    tol, max_steps = adjoint.tolerance(h_star.dtype), adjoint.cg_max_steps
    if isinstance(solver, Newton):
        return solver.adjoint(model, graph, h_star, cotangent, tol, factors)
    dtype = working_dtype(adjoint.precision, h_star.dtype)
    operator = _adjoint_operator(model, graph, h_star)
    if dtype == h_star.dtype:
        return _linear_solve(model, operator, cotangent, tol, max_steps)
    lam, first = _linear_solve(model, operator, cotangent, tol, min(max_steps, NARROW_STEPS))
    m, g, h_wide, c_wide, lam = cast_floats((model, graph, h_star, cotangent, lam), dtype)
    wide = _adjoint_operator(m, g, h_wide)
    checked = true_residual_stats(wide, c_wide, lam, first.steps, tol)

    def accept(lam):
        return lam, checked

    def widen(lam):
        lam, second = _linear_solve(m, wide, c_wide, tol, max_steps - first.steps, start=lam)
        return lam, _summed(first, second, dtype)

    lam, stats = jax.lax.cond(checked.converged, accept, widen, lam)
    return lam.astype(h_star.dtype), narrowed(stats, h_star.dtype)


def _forward(model, graph: Graph, h0, solver):
    """(`run`'s solution, what the adjoint may reuse: `Newton.solve_factored`'s factors,
    else None)."""
    if isinstance(solver, Newton):
        h, stats, factors = solver.solve_factored(model, graph, h0)
        return Solution(h, stats), factors
    return run(model, graph, h0, solver), None


def implicit_value_and_grad(loss_fn, model, graph: Graph, h0, solver, adjoint: ImplicitAdjoint):
    """L(θ) = loss_fn(model, H*(θ)) and dL/dθ, with the statistics of both solves.

    dL/dθ = ∂L/∂θ|_{H*} − (∂g/∂θ)ᵀ λ with (∂g/∂H)ᵀ λ = ∂L/∂H* (Eq. 36–37): the same
    gradient as differentiating `implicit_solve`, with the adjoint solve's `SolveStats`
    returned instead of discarded. Returns ``(value, grads, solution, adjoint_stats)``.
    """
    sol, factors = _forward(jax.lax.stop_gradient(model), graph, h0, solver)
    h_star = sol.value
    value, (direct, cotangent) = eqx.filter_value_and_grad(lambda mh: loss_fn(*mh))((model, h_star))
    lam, stats = adjoint_solve(model, graph, h_star, cotangent, adjoint, solver, factors)
    _, vjp = eqx.filter_vjp(lambda m: root(m, graph, h_star), model)
    (through_solve,) = vjp(-lam)
    return value, eqx.apply_updates(direct, through_solve), sol, stats


@eqx.filter_custom_vjp
def implicit_solve(model, graph, h0, solver, adjoint):
    """H* from ``solver`` (forward), differentiated implicitly (backward)."""
    return run(model, graph, h0, solver)


@implicit_solve.def_fwd
def _implicit_fwd(perturbed, model, graph, h0, solver, adjoint):
    del perturbed
    sol = run(model, graph, h0, solver)
    return sol, sol.value


@implicit_solve.def_bwd
def _implicit_bwd(h_star, grad_obj, perturbed, model, graph, h0, solver, adjoint):
    del perturbed, h0
    cotangent = grad_obj.value
    if cotangent is None:
        cotangent = jnp.zeros_like(h_star)
    lam, _ = adjoint_solve(model, graph, h_star, cotangent, adjoint, solver)
    _, vjp = eqx.filter_vjp(lambda m: root(m, graph, h_star), model)
    (grads,) = vjp(-lam)
    return grads
