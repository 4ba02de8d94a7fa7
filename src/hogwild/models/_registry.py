"""Model registry: every model by name, built for a task's input and output sizes."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr

from ._energy import EnergyGNN
from ._explicit import GAT, GCN
from ._fixed_point import IGNN
from ._gsd import GSDGNN


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model and what it promises under asynchrony.

    ``build(in_size, edge_size, out_size, graph_level, key, **options)``; ``options`` are
    the model's tunable hyperparameters with their defaults (settable with ``--set``).
    """

    name: str
    family: str
    robust: bool
    why: str
    build: Callable
    options: dict = dataclasses.field(default_factory=dict)


def _energy(variant: str):
    def build(in_size, edge_size, out_size, graph_level, key, **options):
        return EnergyGNN(
            in_size,
            edge_size,
            out_size,
            variant=variant,
            graph_level=graph_level,
            key=key,
            **options,
        )

    return build


def _features_only(cls):
    """Builder for models that use node features only (edge features are ignored)."""

    def build(in_size, edge_size, out_size, graph_level, key, **options):
        del edge_size
        return cls(in_size, out_size, graph_level=graph_level, key=key, **options)

    return build


_CONVEX = "strongly convex energy (beta > 0): asynchronous gradient steps converge (Prop. 4.2)"
_QUADRATIC = "strongly convex quadratic energy (gamma > 0, L PSD): converges (Prop. 4.2)"
_CONTRACTIVE = "contraction (|theta_m|_inf <= kappa/lambda_max(A) < 1): converges (Prop. 4.1)"
#: ``bias``: 0 as in Eq. 17–20, 1 as PyTorch Geometric's layers (see `GCN`).
_EXPLICIT_OPTIONS = {"layers": 5, "bias": 0}
_EXPLICIT = "neither: a fixed number of layers, and a stale view mixes layers (Fig. 1)"

MODELS: dict[str, ModelSpec] = {
    **{
        f"energy-{v}": ModelSpec(
            f"energy-{v}",
            "optimisation",
            True,
            _CONVEX,
            _energy(v),
            {"beta": 0.04, "max_condition": None, "condition_penalty": None},
        )
        for v in ("node", "edge", "attention")
    },
    "gsd": ModelSpec(
        "gsd", "optimisation", True, _QUADRATIC, _features_only(GSDGNN), {"gamma": 1.0, "beta": 5.0}
    ),
    "ignn": ModelSpec(
        "ignn", "fixed-point", True, _CONTRACTIVE, _features_only(IGNN), {"kappa": 0.9}
    ),
    "gcn": ModelSpec("gcn", "explicit", False, _EXPLICIT, _features_only(GCN), _EXPLICIT_OPTIONS),
    "gat": ModelSpec("gat", "explicit", False, _EXPLICIT, _features_only(GAT), _EXPLICIT_OPTIONS),
}


def check_model_options(name: str, options: dict) -> dict:
    """``options`` completed with the model's defaults; unknown names are an error."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}.")
    defaults = MODELS[name].options
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "none"
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for model {name!r}; valid: {valid}."
        )
    for key, value in options.items():
        _check_option_type(name, key, value, defaults[key])
    return {**defaults, **options}


def _check_option_type(model: str, key: str, value, default) -> None:
    """A model option must be a number (an integer where the default is one); an option
    whose default is None (off, e.g. ``max_condition``) may also be None."""
    if default is None and value is None:
        return
    integral = isinstance(default, int) and not isinstance(default, bool)
    ok = isinstance(value, numbers.Integral if integral else numbers.Real)
    if isinstance(value, bool) or not ok or not math.isfinite(value):
        kind = "an integer" if integral else "a finite number"
        raise ValueError(f"option {key!r} of model {model!r} must be {kind}; got {value!r}.")


def make_model(
    name: str,
    in_size: int,
    edge_size: int,
    out_size: int,
    *,
    graph_level: bool = False,
    seed: int = 0,
    options: dict | None = None,
):
    """Build the registered model ``name`` with parameters drawn from ``seed``.

    The draws are float32 whatever the process's state: with float64 enabled
    (``jax_enable_x64``, e.g. by an earlier mixed-precision run in the same process)
    `jax.random` would otherwise sample in float64 and the same seed would give other
    parameters. Under float64 the float32 draws are returned as float64, exactly."""
    options = check_model_options(name, options or {})
    with jax.enable_x64(False):  # the same draws whether or not float64 is enabled
        model = MODELS[name].build(
            in_size, edge_size, out_size, graph_level, jr.PRNGKey(seed), **options
        )
    return cast_model(model, jnp.float64) if jax.config.jax_enable_x64 else model


def cast_model(model, dtype):
    """``model`` with every floating-point parameter in ``dtype``."""
    dtype = jnp.dtype(dtype)
    return jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, model
    )
