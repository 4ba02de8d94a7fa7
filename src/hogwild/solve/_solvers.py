"""Minimisers of a convex node energy E(H): L-BFGS (default) and plain gradient descent.

A solver is a small immutable object with ``run(fn, h0) -> (h, SolveStats)`` where ``fn``
maps node states H to the scalar E(H). ``run`` never raises on non-convergence: the stats
say whether ‖∇E‖ fell below the tolerance and callers decide what to do.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int


class SolveStats(eqx.Module):
    """Outcome of a solve: ``steps`` taken, final ``residual`` ‖∇E(H)‖₂, ``converged``."""

    steps: Int[Array, ""]
    residual: Float[Array, ""]
    converged: Bool[Array, ""]


def default_tolerance(dtype) -> float:
    """‖∇E‖ tolerance reachable in a dtype: 1e-6 in float64, 1e-4 in float32."""
    return 1e-6 if jnp.dtype(dtype) == jnp.float64 else 1e-4


def _norm(x: Array) -> Array:
    return jnp.sqrt(jnp.sum(x * x))


class AbstractSolver(eqx.Module):
    """Minimises fn(H) from a warm start; ``tol`` None means `default_tolerance`.

    ``precision``: the dtype to solve in, e.g. ``"float64"`` inside a float32 model (mixed
    precision: the model and states are cast for the solve, the solution cast back; the
    default tolerance stays the model dtype's here, `Newton` takes the solve dtype's).
    None: the states' own dtype.
    """

    tol: float | None = None
    max_steps: int = 500
    precision: str | None = None

    def tolerance(self, h: Array) -> float:
        """``tol``, else `default_tolerance` of ``h``'s dtype."""
        return default_tolerance(h.dtype) if self.tol is None else self.tol

    @abc.abstractmethod
    def run(self, fn, h0: Array) -> tuple[Array, SolveStats]: ...


class LBFGS(AbstractSolver):
    """Limited-memory BFGS with a zoom (strong Wolfe) line search (optax).

    On a β-strongly convex, smooth E this needs tens of energy evaluations where plain
    gradient descent needs thousands (see ``bench/solve.py``).

    Termination is decided on ‖∇E‖ alone: converged when ‖∇E‖ <= tol; otherwise the solve
    runs to ``max_steps`` unless it is *stalled*: the line search has left H exactly
    unchanged for ``stall_steps`` consecutive steps (no step it tries lowers E in the
    working precision — the rounding floor, e.g. float32 on a stiff energy). ‖∇E‖ is not
    monotone under L-BFGS (on a quadratic of condition number 1e4 it goes 37 steps
    without a new minimum in float64, 143 in float32), so a missing improvement of ‖∇E‖
    is never taken for a stall; a stall is reported as not converged.

    ``patience``: also stop after this many steps within ``FLOOR_ZONE`` × tol that have not
    halved ‖∇E‖ — only for a first phase that another solve continues (the float32
    phase of a mixed-precision solve, whose ‖∇E‖ can sit at its rounding floor just above
    the tolerance: ~1.2e-4 for GSD-GNN on PROTEINS' 40,960 training nodes, where the
    phase spent 70 of its 100 steps). Far from the tolerance L-BFGS's ‖∇E‖ may rise and
    fall for tens of steps on a stiff energy, so those steps never count. Such a stop is
    reported as not converged.
    """

    memory: int = 20
    stall_steps: int = 10
    patience: int | None = None

    #: Where ``patience`` counts: ‖∇E‖ within this factor of the tolerance.
    FLOOR_ZONE: ClassVar[float] = 100.0

    def run(self, fn, h0):
        opt = optax.lbfgs(memory_size=self.memory)
        value_and_grad = optax.value_and_grad_from_state(fn)
        tol = self.tolerance(h0)

        patience = self.max_steps if self.patience is None else self.patience

        def cond(carry):
            _, _, step, residual, unmoved, _, since = carry
            going = (step < self.max_steps) & (residual > tol) & (unmoved < self.stall_steps)
            return going & (since < patience)

        def body(carry):
            h, state, step, _, unmoved, level, since = carry
            value, grad = value_and_grad(h, state=state)
            updates, state = opt.update(grad, state, h, value=value, grad=grad, value_fn=fn)
            new = optax.apply_updates(h, updates)
            residual = _norm(optax.tree_utils.tree_get(state, "grad"))
            moved = jnp.any(new != h)
            halved = residual < level / 2
            near = residual <= self.FLOOR_ZONE * tol
            level = jnp.where(halved, residual, level)
            since = jnp.where(halved | ~near, 0, since + 1)
            return new, state, step + 1, residual, jnp.where(moved, 0, unmoved + 1), level, since

        r0 = _norm(jax.grad(fn)(h0))
        zero = jnp.array(0)
        start = (h0, opt.init(h0), zero, r0, zero, r0, zero)
        h, _, steps, residual, *_ = jax.lax.while_loop(cond, body, start)
        return h, SolveStats(steps, residual, residual <= tol)


class GradientDescent(AbstractSolver):
    """Plain gradient descent H ← H − α ∇E(H) (Eq. 5), the synchronous form of hogwild.

    ``step_size`` None uses α = 1/L with L estimated by power iteration on the Hessian at
    the start point (see `estimate_smoothness`). ``unrolled=True`` runs exactly
    ``max_steps`` steps in a `lax.scan`, so reverse-mode differentiation can go through it.
    """

    step_size: float | None = None
    unrolled: bool = False
    max_steps: int = 10_000

    def step(self, fn, h0) -> Array:
        if self.step_size is not None:
            return jnp.asarray(self.step_size, h0.dtype)
        return 1.0 / estimate_smoothness(fn, h0)

    def run(self, fn, h0):
        alpha = jax.lax.stop_gradient(self.step(fn, h0))
        grad = jax.grad(fn)
        if self.unrolled:
            h, _ = jax.lax.scan(lambda h, _: (h - alpha * grad(h), None), h0, None, self.max_steps)
            residual = _norm(grad(h))
            tol = self.tolerance(h0)
            return h, SolveStats(jnp.array(self.max_steps), residual, residual <= tol)
        return self._run_to_tolerance(grad, h0, alpha)

    def _run_to_tolerance(self, grad, h0, alpha):
        tol = self.tolerance(h0)

        def body(carry):
            h, g, step = carry
            h = h - alpha * g
            return h, grad(h), step + 1

        def cond(carry):
            _, g, step = carry
            return (step < self.max_steps) & (_norm(g) > tol)

        h, g, steps = jax.lax.while_loop(cond, body, (h0, grad(h0), jnp.array(0)))
        residual = _norm(g)
        return h, SolveStats(steps, residual, residual <= tol)


def estimate_smoothness(fn, h: Array, iterations: int = 30) -> Array:
    """Largest Hessian eigenvalue of fn at h by power iteration (an estimate of K₁)."""
    _, hvp = jax.linearize(jax.grad(fn), h)
    v = jnp.ones_like(h) / jnp.sqrt(h.size)

    def body(_, v):
        w = hvp(v)
        return w / jnp.maximum(_norm(w), jnp.finfo(h.dtype).tiny)

    v = jax.lax.fori_loop(0, iterations, body, v)
    return jnp.vdot(v, hvp(v)) * 1.1
