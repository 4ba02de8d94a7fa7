"""Mixed precision: solve in a wider dtype than the model's.

A trained energy stiffens (largest Hessian eigenvalue 70–1,200 against β = 0.04). In
float32 ‖∇E‖ then has a rounding floor of about ε₃₂·K₁·‖H‖ — above the 1e-4 tolerance
on graphs of a few thousand nodes — and the line search's energy comparisons fail, so
L-BFGS crawls or stalls. Solving in float64 inside a float32 model removes both: the
model, graph and states are cast for the solve only, the solution is cast back.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._solvers import SolveStats


def cast_floats(tree, dtype):
    """``tree`` with every floating-point array in ``dtype`` (integer arrays unchanged)."""
    dtype = jnp.dtype(dtype)

    def cast(x):
        if isinstance(x, jax.Array | jnp.ndarray) and jnp.issubdtype(x.dtype, jnp.inexact):
            return x.astype(dtype)
        return x

    return jax.tree_util.tree_map(cast, tree)


def working_dtype(precision: str | None, dtype):
    """The dtype a solve runs in: ``precision`` when given and wider, else ``dtype``.

    Raises:
        ValueError: float64 was asked for but JAX runs without 64-bit types.
    """
    if precision is None or jnp.dtype(precision) == jnp.dtype(dtype):
        return jnp.dtype(dtype)
    if jnp.dtype(precision) == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "a float64 solve needs 64-bit JAX: call jax.config.update('jax_enable_x64', True) "
            "before building the model (hogwild train does this for mixed precision)."
        )
    return jnp.dtype(precision)


def narrowed(stats: SolveStats, dtype) -> SolveStats:
    """``stats`` with the residual in the model's dtype."""
    return SolveStats(stats.steps, stats.residual.astype(dtype), stats.converged)
