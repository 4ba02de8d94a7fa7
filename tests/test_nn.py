"""The partially input-convex network (Appendix B): convex in y, monotone where flagged.

The constraints are imposed by reparameterisation (nonnegative functions of raw weights),
so they must hold for *any* raw parameter values, not only near the initialisation. The
property tests therefore draw every raw parameter (and every input) from a seeded numpy
generator; the network structure comes from `eqx.filter_eval_shape`, so drawing is cheap
and the jitted checks compile once per structure.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hogwild import MLP, PICNN

# (x_size, y_size, sizes): includes x_size = 0, one-layer and deeper networks.
CONFIGS = [(0, 2, (4, 4, 2)), (3, 1, (3,)), (1, 3, (4, 1))]
MIXED_CONFIG = CONFIGS[2]  # shares the all-True / all-False structures
T = jnp.linspace(0.0, 1.0, 9)
POINTS = 16


def _is_float_leaf(x) -> bool:
    return isinstance(x, (jax.Array, jax.ShapeDtypeStruct)) and jnp.issubdtype(x.dtype, jnp.inexact)


def _with_random_params(structure, rng: np.random.Generator, scale: float):
    """``structure`` (a module, possibly of ShapeDtypeStructs) with N(0, scale²) parameters."""
    params, static = eqx.partition(structure, _is_float_leaf)
    leaves, tree = jax.tree_util.tree_flatten(params)
    leaves = [jnp.asarray(rng.normal(scale=scale, size=leaf.shape)) for leaf in leaves]
    return eqx.combine(jax.tree_util.tree_unflatten(tree, leaves), static)


def _picnn(config, monotone, seed: int, scale: float):
    x_size, y_size, sizes = config
    structure = eqx.filter_eval_shape(
        PICNN, x_size, y_size, sizes, monotone=monotone, key=jr.PRNGKey(0)
    )
    return _with_random_params(structure, np.random.default_rng(seed), scale)


def _inputs(config, seed: int):
    """Non-convex inputs xs, convex inputs y1, y2 and steps d >= 0 (half of them along a
    single coordinate, half along all)."""
    x_size, y_size, _ = config
    rng = np.random.default_rng([seed, 1])
    xs = rng.normal(size=(POINTS, x_size))
    y1, y2 = 3 * rng.normal(size=(2, POINTS, y_size))
    d = rng.exponential(size=(POINTS, y_size))
    half = POINTS // 2
    d[:half] *= np.eye(y_size)[np.arange(half) % y_size]
    return tuple(jnp.asarray(a) for a in (xs, y1, y2, d))


@eqx.filter_jit
def _properties(f, xs, y1, y2, d, mask):
    """Measured on ``f``: the largest excess of f over its chord on the segments [y2, y1];
    the largest decrease f(y1) - f(y1 + d ∘ mask); the most negative partial derivative
    ∂f/∂y_k over masked k; and a tolerance for rounding."""
    n = len(T)
    # Rows 0..n-1: t y1 + (1 - t) y2 for t in T (so row n-1 is y1 and row 0 is y2); row n:
    # y1 + d ∘ mask. One vmapped call keeps the compiled program small.
    ys = jnp.concatenate(
        [
            T[None, :, None] * y1[:, None] + (1 - T[None, :, None]) * y2[:, None],
            (y1 + d * mask)[:, None],
        ],
        1,
    )
    values = jax.vmap(lambda x, ys: jax.vmap(lambda y: f(x, y))(ys))(xs, ys)
    f1, f2, after = values[:, n - 1], values[:, 0], values[:, n]
    chord = T[None, :, None] * f1[:, None] + (1 - T[None, :, None]) * f2[:, None]
    grads = jax.vmap(jax.jacobian(f, argnums=1))(xs, y1)  # (points, out, y)
    slope = jnp.min(jnp.where(mask > 0, grads, jnp.inf))
    tol = 1e-9 * (1.0 + jnp.max(jnp.abs(values)))
    return jnp.max(values[:, :n] - chord), jnp.max(f1 - after), slope, tol, values[:, :n].shape


picnn_args = dict(
    seed=st.integers(0, 2**31 - 1),
    config=st.sampled_from(CONFIGS),
    scale=st.sampled_from([0.3, 1.0, 3.0]),
)


@settings(max_examples=25, deadline=None)
@given(**picnn_args, monotone=st.booleans())
def test_picnn_convex_in_y(seed, config, scale, monotone):
    f = _picnn(config, monotone, seed, scale)
    gap, _, _, tol, shape = _properties(f, *_inputs(config, seed), jnp.ones(config[1]))
    assert shape == (POINTS, len(T), config[2][-1])
    assert gap <= tol, float(gap)


@settings(max_examples=25, deadline=None)
@given(**picnn_args)
def test_picnn_monotone_nondecreasing_in_y(seed, config, scale):
    f = _picnn(config, True, seed, scale)
    gap, drop, slope, tol, _ = _properties(f, *_inputs(config, seed), jnp.ones(config[1]))
    assert gap <= tol, float(gap)
    assert drop <= tol, float(drop)
    assert slope >= -1e-12, float(slope)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([0.3, 1.0, 3.0]),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_picnn_mixed_mask_nondecreasing_in_flagged(seed, scale, flags):
    f = _picnn(MIXED_CONFIG, flags, seed, scale)
    mask = jnp.asarray(flags, float)
    gap, drop, slope, tol, _ = _properties(f, *_inputs(MIXED_CONFIG, seed), mask)
    assert gap <= tol, float(gap)
    assert drop <= tol, float(drop)
    assert slope >= -1e-12, float(slope)


def _worst_drop(f, config, seeds=range(4)):
    ones = jnp.ones(config[1])
    return max(float(_properties(f, *_inputs(config, s), ones)[1]) for s in seeds)


@pytest.mark.parametrize("config", CONFIGS)
def test_picnn_monotone_constraint_matters(config):
    """Deterministic: with the same raw parameters, the unconstrained network decreases in y
    somewhere while the constrained one never does."""
    for seed in (3, 4):
        assert _worst_drop(_picnn(config, False, seed, 1.0), config) > 1e-3, seed
        assert _worst_drop(_picnn(config, True, seed, 1.0), config) <= 1e-12, seed


def test_picnn_monotone_constraint_matters_at_initialisation(getkey):
    """The same, with the library's own initialisation (one key for both networks)."""
    config = CONFIGS[0]
    x_size, y_size, sizes = config
    key = getkey()
    free = PICNN(x_size, y_size, sizes, monotone=False, key=key)
    tied = PICNN(x_size, y_size, sizes, monotone=True, key=key)
    assert _worst_drop(free, config) > 1e-3
    assert _worst_drop(tied, config) <= 1e-12


def test_picnn_convexity_check_detects_a_nonconvex_function():
    """The chord test used above is not vacuous: a plain tanh MLP in y fails it."""
    mlp = _with_random_params(
        eqx.filter_eval_shape(MLP, 3, (4, 4, 1), key=jr.PRNGKey(0)), np.random.default_rng(0), 1.0
    )
    _, y1, y2, _ = _inputs((0, 3, (1,)), 0)
    points = T[None, :, None] * y1[:, None] + (1 - T[None, :, None]) * y2[:, None]
    on_segment = jax.vmap(jax.vmap(mlp))(points)
    chord = (
        T[None, :, None] * jax.vmap(mlp)(y1)[:, None]
        + (1 - T[None, :, None]) * jax.vmap(mlp)(y2)[:, None]
    )
    assert float(jnp.max(on_segment - chord)) > 1e-3


def test_picnn_rejects_wrong_number_of_flags():
    with pytest.raises(ValueError, match="needs 3 flags; got 2"):
        PICNN(1, 3, (2, 1), monotone=(True, False), key=jr.PRNGKey(0))


def test_picnn_output_shape_and_float64():
    f = eqx.filter_eval_shape(PICNN, 0, 2, (4, 3), key=jr.PRNGKey(0))
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree_util.tree_leaves(f))
    out = eqx.filter_eval_shape(lambda f: f(jnp.zeros((0,)), jnp.ones(2)), f)
    assert out.shape == (3,) and out.dtype == jnp.float64
