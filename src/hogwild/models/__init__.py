"""Models, each written as a local rule of its family (explicit / fixed-point / optimisation)."""

from ._adjacency import LAMBDA_MAX as LAMBDA_MAX
from ._adjacency import RenormalisedAdjacency as RenormalisedAdjacency
from ._base import AbstractEnergyGNN as AbstractEnergyGNN
from ._base import AbstractGNN as AbstractGNN
from ._base import Readout as Readout
from ._base import TargetScale as TargetScale
from ._base import check_graph as check_graph
from ._base import parameter_spec as parameter_spec
from ._energy import EnergyGNN as EnergyGNN
from ._energy import FeatureAttention as FeatureAttention
from ._energy import segment_softmax as segment_softmax
from ._explicit import GAT as GAT
from ._explicit import GCN as GCN
from ._explicit import AbstractExplicitGNN as AbstractExplicitGNN
from ._explicit import GATLayer as GATLayer
from ._fixed_point import IGNN as IGNN
from ._fixed_point import AbstractFixedPointGNN as AbstractFixedPointGNN
from ._fixed_point import project_rows_to_l1_ball as project_rows_to_l1_ball
from ._gsd import GSDGNN as GSDGNN
from ._registry import MODELS as MODELS
from ._registry import ModelSpec as ModelSpec
from ._registry import check_model_options as check_model_options
from ._registry import make_model as make_model
