"""hogwild: graph neural networks that keep working when nodes compute asynchronously."""

import os as _os

# Newton's Cholesky factorisations call LAPACK (scipy's OpenBLAS) from XLA's own worker
# threads, one call per size bucket, side by side; a multithreaded OpenBLAS called
# concurrently like that busy-waits on its own thread server, and on 2 CPUs a step that
# takes 0.2 s took minutes (README, "Several jobs on one machine"). XLA already spreads
# the work over the CPUs: one OpenBLAS thread per caller, unless the user chose otherwise
# (read when the library loads, so before jax or scipy is first imported).
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# XLA's older CPU fusion emitters: with its MLIR ones a certificate's program never
# returned (`hogwild._xla`; XLA_FLAGS is read when JAX starts its backend, so before the
# first computation).
from ._xla import xla_flags as _xla_flags  # noqa: E402

_os.environ["XLA_FLAGS"] = _xla_flags(_os.environ)

from .graph import Graph as Graph
from .graph import GraphData as GraphData
from .graph import GraphError as GraphError
from .graph import batch_graphs as batch_graphs
from .graph import graph_from_edges as graph_from_edges
from .graph import graph_from_networkx as graph_from_networkx
from .models import GAT as GAT
from .models import GCN as GCN
from .models import GSDGNN as GSDGNN
from .models import IGNN as IGNN
from .models import MODELS as MODELS
from .models import EnergyGNN as EnergyGNN
from .models import make_model as make_model
from .nn import MLP as MLP
from .nn import PICNN as PICNN
from .solve import LBFGS as LBFGS
from .solve import Anderson as Anderson
from .solve import GradientDescent as GradientDescent
from .solve import ImplicitAdjoint as ImplicitAdjoint
from .solve import Picard as Picard
from .solve import UnrolledAdjoint as UnrolledAdjoint
from .solve import embed as embed
from .solve import fixed_point as fixed_point
from .solve import minimise as minimise

__version__ = "0.1.0"
