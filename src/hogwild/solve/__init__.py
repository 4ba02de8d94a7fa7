"""Synchronous solvers and their gradients."""

from ._minimise import ImplicitAdjoint as ImplicitAdjoint
from ._minimise import Solution as Solution
from ._minimise import UnrolledAdjoint as UnrolledAdjoint
from ._minimise import adjoint_solve as adjoint_solve
from ._minimise import minimise as minimise
from ._solvers import LBFGS as LBFGS
from ._solvers import AbstractSolver as AbstractSolver
from ._solvers import GradientDescent as GradientDescent
from ._solvers import SolveStats as SolveStats
from ._solvers import default_tolerance as default_tolerance
from ._solvers import estimate_smoothness as estimate_smoothness
