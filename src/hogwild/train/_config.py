"""Training hyperparameters, checked on construction (types, ranges, finiteness)."""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Sequence

import jax
import numpy as np

from ..solve import LBFGS, Anderson, ImplicitAdjoint, Newton, Picard
from ._guard import check_spike_guard

FIXED_POINT_SOLVERS = {"anderson": Anderson, "picard": Picard}
ENERGY_SOLVERS = ("auto", "lbfgs", "newton")


def _type_name(kind) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[kind]


def _accepts(kind, value) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, numbers.Integral)
    if kind is float:
        return isinstance(value, numbers.Real)
    return isinstance(value, kind)


def check_field_types(config) -> None:
    """Raise ValueError naming the first field of dataclass ``config`` whose value does not
    have its annotated type (``int``, ``float``, ``bool``, ``str``, optionally ``| None``);
    a float field must also be finite."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, hint = getattr(config, field.name), hints[field.name]
        kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        if value is None and type(None) in kinds:
            continue
        kind = next(k for k in kinds if k is not type(None))
        optional = " or null" if type(None) in kinds else ""
        if not _accepts(kind, value):
            raise ValueError(f"`{field.name}` must be {_type_name(kind)}{optional}; got {value!r}.")
        if kind is float and not math.isfinite(value):
            raise ValueError(f"`{field.name}` must be finite; got {value!r}.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters (defaults: Appendix F.2 of the paper).

    ``patience``: epochs without a better validation loss before stopping early.
    ``batch_size``: graphs per batch (None: all graphs of a split in one batch).
    ``solver_tol``: forward tolerance on ‖∇E‖ (energies) or ‖F(H) − H‖ (fixed points);
    None: 1e-4 in float32, 1e-6 in float64 (and for Newton under mixed precision).
    ``fixed_point_solver``: "anderson" (default) or "picard" for fixed-point models.
    ``energy_solver``: "newton" for energy models: damped Newton steps with per-graph
    dense Hessians and a Cholesky adjoint (`hogwild.solve.Newton`), for batches of small
    graphs whose trained energies are stiff (same minimiser and gradients, far fewer
    steps); "lbfgs": L-BFGS and CG; "auto" (default): Newton where it pays
    (`Newton.pays`: small graphs, low degree, blocks in 1 GiB), else L-BFGS, which hands
    over to Newton during training once the energy has stiffened enough that Newton is
    the faster one, where Newton fits (`auto_fallback`; README, "Choosing the energy
    solver").
    ``adjoint_tol`` / ``adjoint_max_steps``: the backward (adjoint) linear solve's relative
    tolerance (None: 1e-4 in float32, 1e-10 in float64) and its budget of products (CG,
    GMRES; Newton's adjoint is one Cholesky solve, its residual checked against the
    tolerance).
    ``standardise_targets``: regression (and distance) models predict targets standardised
    by the training split's mean and std, classification models a correction to the
    training split's prior logits; both kept in the model (see ``_scaling``).
    ``mixed_precision``: a float32 energy model solves forward and adjoint in float64
    (``hogwild.solve._precision``); fixed-point and explicit models are unaffected.
    ``eval_max_steps``: the budget of a final evaluation's solves, which start cold (from
    H = 0) where training's start warm from the previous epoch.
    ``clip_norm``: clip each training gradient to this global L2 norm before Adam (None:
    never; the paper does not clip).
    ``starts`` / ``start_epochs``: multi-start. With ``starts`` > 1 the run first trains
    that many initialisations (parameter seeds `start_seed`; the first is ``seed`` itself)
    for ``start_epochs`` epochs each, then continues the one with the best validation loss
    to ``epochs`` — as if it had been the only one (``_starts``). 1: one initialisation.
    ``spike_guard``: f > 1 to undo loss spikes (`_guard`): when an epoch's training loss
    exceeds f × the lowest so far, parameters, optimiser state and warm starts go back to
    that epoch's and the learning rate is halved for the rest of the run (at most 8 times;
    a diverged epoch is undone the same way).
    None (default, as in the paper): off. Runs with it train one by one, not stacked.
    ``coupled_weight_decay``: True adds ``weight_decay`` · θ to the gradient before Adam
    scales it (an L2 penalty, as ``torch.optim.Adam(weight_decay=...)`` does); False
    (default): AdamW's decoupled decay, lr · ``weight_decay`` · θ after Adam.
    ``condition_every``: every this many epochs an energy model's K₁ (largest Hessian
    eigenvalue), μ (smallest) and K₁/μ at the first training batch's H* are estimated and
    written to the history (0: never).
    """

    epochs: int = 5000
    learning_rate: float = 0.002
    decay_rate: float = 0.98
    decay_every: int = 200
    weight_decay: float = 1e-4
    patience: int = 300
    eval_every: int = 1
    batch_size: int | None = None
    seed: int = 0
    solver_tol: float | None = None
    solver_max_steps: int = 500
    x64: bool = False
    fixed_point_solver: str = "anderson"
    energy_solver: str = "auto"
    adjoint_tol: float | None = None
    adjoint_max_steps: int = 1000
    standardise_targets: bool = True
    mixed_precision: bool = True
    eval_max_steps: int = 5000
    condition_every: int = 10
    clip_norm: float | None = None
    starts: int = 1
    start_epochs: int = 300
    spike_guard: float | None = None
    coupled_weight_decay: bool = False

    def __post_init__(self):
        check_field_types(self)
        positive = (
            "epochs",
            "learning_rate",
            "decay_every",
            "patience",
            "eval_every",
            "solver_max_steps",
            "batch_size",
            "solver_tol",
            "adjoint_tol",
            "adjoint_max_steps",
            "eval_max_steps",
            "clip_norm",
            "starts",
            "start_epochs",
        )
        for name in positive:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"`{name}` must be > 0; got {value}.")
        check_spike_guard(self.spike_guard)
        if self.condition_every < 0:
            raise ValueError(f"`condition_every` must be >= 0; got {self.condition_every}.")
        if self.weight_decay < 0 or self.seed < 0:
            raise ValueError(
                f"`weight_decay` and `seed` must be >= 0; got {self.weight_decay}, {self.seed}."
            )
        if self.fixed_point_solver not in FIXED_POINT_SOLVERS:
            valid = ", ".join(FIXED_POINT_SOLVERS)
            raise ValueError(
                f"unknown fixed_point_solver {self.fixed_point_solver!r}; valid: {valid}."
            )
        if self.energy_solver not in ENERGY_SOLVERS:
            raise ValueError(
                f"unknown energy_solver {self.energy_solver!r}; valid: {', '.join(ENERGY_SOLVERS)}."
            )
        if not 0 < self.decay_rate <= 1:
            raise ValueError(f"`decay_rate` must be in (0, 1]; got {self.decay_rate}.")

    def solver(
        self,
        family: str = "optimisation",
        graphs: Sequence = (),
        batch_graphs: Sequence[int] = (),
        hidden: int | None = None,
    ):
        """The forward solver these options describe for a model ``family`` (None: explicit
        models have nothing to solve). ``graphs``: every graph it will solve, which
        ``energy_solver`` "newton" needs to size its Hessian blocks (sizes only); "auto"
        also needs the batches' (padded) graph counts ``batch_graphs`` and the model's
        ``hidden`` size, and without them is L-BFGS."""
        if family == "optimisation":
            precision = self.solve_precision(family)
            lbfgs = LBFGS(self.solver_tol, self.solver_max_steps, precision)
            if self.energy_solver == "lbfgs" or (self.energy_solver == "auto" and not graphs):
                return lbfgs
            if not graphs:
                raise ValueError("energy_solver newton is sized from the graphs it solves.")
            newton = Newton.for_graphs(
                graphs, tol=self.solver_tol, max_steps=self.solver_max_steps, precision=precision
            )
            if self.energy_solver == "newton":
                return newton
            pays = hidden is not None and newton.pays(batch_graphs, hidden, self.itemsize(family))
            return newton if pays else lbfgs
        if family == "fixed-point":
            return FIXED_POINT_SOLVERS[self.fixed_point_solver](
                self.solver_tol, self.solver_max_steps
            )
        return None

    def auto_fallback(self, family, graphs: Sequence, batch_graphs: Sequence[int], hidden: int):
        """The Newton solver an "auto" training run switches to once L-BFGS has become the
        slower one (`Newton.outpaces`), or None: when ``energy_solver`` is not "auto",
        when "auto" already chose Newton, or when Newton does not fit (`Newton.fits`)."""
        if self.energy_solver != "auto" or family != "optimisation" or not graphs:
            return None
        newton = dataclasses.replace(self, energy_solver="newton").solver(family, graphs)
        itemsize = self.itemsize(family)
        if newton.pays(batch_graphs, hidden, itemsize):  # "auto" took Newton already
            return None
        return newton if newton.fits(batch_graphs, hidden, itemsize) else None

    def eval_solver(self, family: str = "optimisation", *args, **kwargs):
        """`solver` (same arguments) with the evaluation budget ``eval_max_steps`` (cold
        starts)."""
        solver = self.solver(family, *args, **kwargs)
        budget = max(self.eval_max_steps, self.solver_max_steps)
        return None if solver is None else dataclasses.replace(solver, max_steps=budget)

    def itemsize(self, family: str) -> int:
        """Bytes per float of a ``family`` model's solves (8 under mixed precision)."""
        return 8 if self.solve_precision(family) else np.dtype(self.dtype).itemsize

    def adjoint(self, family: str = "optimisation") -> ImplicitAdjoint:
        """The backward solve these options describe for a model ``family``."""
        return ImplicitAdjoint(
            self.adjoint_tol, self.adjoint_max_steps, self.solve_precision(family)
        )

    def enable_precision(self, family: str) -> None:
        """Turn on 64-bit JAX if this model ``family`` solves in float64 (the model and
        its batches keep their own dtype; every array here is created with one)."""
        if (self.x64 or self.solve_precision(family)) and not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)

    def solve_precision(self, family: str) -> str | None:
        """ "float64" when a float32 energy model solves in mixed precision, else None."""
        wide = self.mixed_precision and not self.x64 and family == "optimisation"
        return "float64" if wide else None

    @property
    def dtype(self):
        return np.float64 if self.x64 else np.float32
