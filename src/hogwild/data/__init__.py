"""Datasets read from disk (or downloaded once into a cache), checked before use."""

from .mnist import DataError as DataError
from .mnist import load_mnist as load_mnist
from .ppi import load_ppi as load_ppi
