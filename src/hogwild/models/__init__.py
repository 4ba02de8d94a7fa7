"""Models, each written as a local rule of its family."""

from ._base import AbstractEnergyGNN as AbstractEnergyGNN
from ._base import AbstractGNN as AbstractGNN
from ._base import Readout as Readout
from ._energy import EnergyGNN as EnergyGNN
from ._energy import FeatureAttention as FeatureAttention
from ._energy import segment_softmax as segment_softmax
from ._registry import MODELS as MODELS
from ._registry import ModelSpec as ModelSpec
from ._registry import make_model as make_model
