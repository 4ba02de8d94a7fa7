"""Datasets read from disk (or downloaded once into a cache), checked before use."""

from ._fetch import DataError as DataError
from .mnist import load_mnist as load_mnist
from .ppi import load_ppi as load_ppi
from .tu import TUDataset as TUDataset
from .tu import load_tu as load_tu
