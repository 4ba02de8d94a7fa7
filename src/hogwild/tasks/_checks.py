"""Validation shared by the synthetic task configs: errors name the offending field."""

from __future__ import annotations

import numbers


def check_int(name: str, value, minimum: int) -> None:
    """``value`` must be an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{name}` must be an integer; got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {value}.")


def check_fractions(config) -> None:
    """``config.fractions`` must be 3 positive numbers summing to 1; stored as a tuple (so
    a list from JSON or ``--set fractions=[0.6,0.2,0.2]`` works and the config stays hashable)."""
    fractions = config.fractions
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(f"`fractions` must be 3 numbers; got {fractions!r}.") from None
    if len(values) != 3 or min(values) <= 0 or abs(sum(values) - 1) > 1e-6:
        raise ValueError(
            f"`fractions` must be 3 positive numbers summing to 1 (train, validation, test); "
            f"got {fractions!r}."
        )
    object.__setattr__(config, "fractions", values)


def check_split(config) -> None:
    """Seed, split fractions and at least one graph per split."""
    check_int("seed", config.seed, 0)
    check_int("num_graphs", config.num_graphs, 3)
    check_fractions(config)
