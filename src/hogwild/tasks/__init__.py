"""Tasks: seeded datasets with their kind of target, behind one registry."""

from __future__ import annotations

from ._base import Dataset as Dataset
from ._base import split_indices as split_indices
from .chains import ChainsConfig as ChainsConfig
from .chains import make_chains as make_chains
from .coordinates import CoordinatesConfig as CoordinatesConfig
from .coordinates import make_coordinates as make_coordinates
from .counting import CountingConfig as CountingConfig
from .counting import make_counting as make_counting
from .mnist_terrain import MnistTerrainConfig as MnistTerrainConfig
from .mnist_terrain import make_mnist_terrain as make_mnist_terrain
from .ppi import PpiConfig as PpiConfig
from .ppi import make_ppi as make_ppi
from .sums import SumsConfig as SumsConfig
from .sums import make_sums as make_sums
from .tu import MutagConfig as MutagConfig
from .tu import ProteinsConfig as ProteinsConfig
from .tu import make_mutag as make_mutag
from .tu import make_proteins as make_proteins

TASKS = {
    "chains": (ChainsConfig, make_chains),
    "counting": (CountingConfig, make_counting),
    "sums": (SumsConfig, make_sums),
    "coordinates": (CoordinatesConfig, make_coordinates),
    "mnist": (MnistTerrainConfig, make_mnist_terrain),
    "mutag": (MutagConfig, make_mutag),
    "proteins": (ProteinsConfig, make_proteins),
    "ppi": (PpiConfig, make_ppi),
}


def make_task(name: str, config=None) -> Dataset:
    """Build the named task's dataset from its config (the task's defaults when None)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(sorted(TASKS))}.")
    config_cls, make = TASKS[name]
    return make(config_cls() if config is None else config)
