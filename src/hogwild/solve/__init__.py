"""Synchronous solvers and their gradients, for every model family."""

from ._embed import embed as embed
from ._embed import propagate as propagate
from ._fixed_point import AbstractFixedPointIteration as AbstractFixedPointIteration
from ._fixed_point import Anderson as Anderson
from ._fixed_point import Picard as Picard
from ._fixed_point import fixed_point as fixed_point
from ._implicit import ImplicitAdjoint as ImplicitAdjoint
from ._implicit import Solution as Solution
from ._implicit import UnrolledAdjoint as UnrolledAdjoint
from ._implicit import adjoint_solve as adjoint_solve
from ._implicit import root as root
from ._minimise import minimise as minimise
from ._newton import Newton as Newton
from ._solvers import LBFGS as LBFGS
from ._solvers import AbstractSolver as AbstractSolver
from ._solvers import GradientDescent as GradientDescent
from ._solvers import SolveStats as SolveStats
from ._solvers import default_tolerance as default_tolerance
from ._solvers import estimate_smoothness as estimate_smoothness
from ._spectrum import condition_number as condition_number
from ._spectrum import hessian_extremes as hessian_extremes
