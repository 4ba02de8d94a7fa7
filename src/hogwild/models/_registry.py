"""Model registry: every model by name, built for a task's input and output sizes."""

from __future__ import annotations

import dataclasses

import jax.random as jr

from ._energy import EnergyGNN


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model and what it promises under asynchrony."""

    name: str
    family: str
    robust: bool
    why: str
    build: object  # (in_size, edge_size, out_size, graph_level, key) -> model


def _energy(variant: str):
    def build(in_size, edge_size, out_size, graph_level, key):
        return EnergyGNN(
            in_size, edge_size, out_size, variant=variant, graph_level=graph_level, key=key
        )

    return build


_CONVEX = "strongly convex energy (beta > 0): asynchronous gradient steps converge (Prop. 4.2)"
MODELS: dict[str, ModelSpec] = {
    f"energy-{v}": ModelSpec(f"energy-{v}", "optimisation", True, _CONVEX, _energy(v))
    for v in ("node", "edge", "attention")
}


def make_model(
    name: str,
    in_size: int,
    edge_size: int,
    out_size: int,
    *,
    graph_level: bool = False,
    seed: int = 0,
):
    """Build the registered model ``name`` with parameters drawn from ``seed``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}.")
    return MODELS[name].build(in_size, edge_size, out_size, graph_level, jr.PRNGKey(seed))
