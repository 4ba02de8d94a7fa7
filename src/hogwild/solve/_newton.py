"""Newton's method with per-graph dense Hessians: exact steps for batches of small graphs.

A batch is a disjoint union of graphs, so ∇²E is block diagonal, one block per graph. The
block of graph g is assembled from every node energy's exact local Hessian
(`local_hessians`, the same local rule the solvers and simulator use):

    [∇²E]_(a, b) = Σ_k Σ_{r, s: node(k, r) = a, node(k, s) = b} ∂²e_k/∂z_r∂z_s,

padded to its size bucket (padding rows: identity; `_newton_layout`: graphs of similar
size share a bucket, nodes of similar in-degree a slot width). Each step solves
(∇²E_g) p_g = −∇_g E by Cholesky and takes H_g ← H_g + t_g p_g, with t_g halved per
graph until Armijo's E_g(H + t p) ≤ E_g(H) + 10⁻⁴ t ∇_gEᵀp_g holds — or, when the energy
comparison is at its rounding floor (a stiff trained energy), until E_g stays within
10⁻¹⁰ |E_g| and ‖∇_g E‖ falls. Convergence is decided on ‖∇E‖ alone, like `LBFGS`.

Near H* Newton converges quadratically whatever the condition number. Measured on a
trained MUTAG energy-edge run (160 graphs, K₁/μ ≈ 1.4e3, float64): from the previous
epoch's states 2 steps where L-BFGS takes 173; cold from H = 0, 33 damped steps against
408. The adjoint system (∇²E) λ = ∂L/∂H* of implicit differentiation is one Cholesky
solve per graph where conjugate gradients took 396 Hessian-vector products.

Factorisations are reused (`Newton.solve_factored`): a step reuses the last factors F
(a chord step, p = −F⁻¹∇E) while the step before shrank ‖∇E‖ by at least
``reuse_ratio``, and the adjoint runs conjugate gradients preconditioned by the forward
solve's last factors, M = F, which near H* converge in a few products (a factorisation
at H* only when they do not). On a trained PROTEINS energy that took a training step
from three factorisations to one (`bench/newton_cost.py --run`).

Cost: a step assembles the local Hessians (`model.hessian_columns` gradients of E: the
energy GNN's structured ones about 6 whatever the degree, a generic energy's k(1 + d)
Hessian-vector products, d the largest in-degree) and factorises one block per graph,
padded to its size bucket; memory Σ_buckets capacity × (k · size)². It pays for batches
of small graphs (MUTAG, the synthetic tasks, MNIST terrain) and, with its buckets and
degree groups, for many graphs of very different sizes (PROTEINS: `bench/newton_cost.py`);
on one large graph use `LBFGS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..graph import Graph
from ._linear import conjugate_gradient, true_residual_stats
from ._newton_layout import (
    Blocks,
    Layout,
    fitted_plan,
    joined_plan,
    plan_buckets,
    plan_counts,
    plan_groups,
)
from ._precision import cast_floats, narrowed, working_dtype
from ._solvers import AbstractSolver, SolveStats, _norm, default_tolerance

#: Armijo's sufficient-decrease constant and the relative energy slack at the rounding floor.
ARMIJO = 1e-4
ROUNDING_SLACK = 1e-10
#: The most bytes of Hessian blocks one batch may take (`Newton.check_memory`).
MEMORY_LIMIT = 4 * 2**30
#: When `Newton.pays` (the training option energy_solver "auto"): blocks at most this wide
#: (hidden × largest graph), at most this many local Hessian columns per step
#: (hidden × (1 + largest in-degree)) and a batch's blocks in at most this many bytes (the
#: last alone decides whether Newton `fits` as the fallback "auto" may switch to).
#: Measured wins (bench/newton.py): MUTAG (56 wide, 10 columns) 4.1x, counting 1.8x and
#: sums 1.4x before their energies stiffen; coordinates (40 columns) 0.59x and MNIST
#: terrain (20) 0.58x even with structured Hessians (fresh energies, session 37).
AUTO_BLOCK = 256
AUTO_COLUMNS = 16
AUTO_MEMORY = 2**30
#: When "auto" hands a training run from L-BFGS to Newton (`Newton.outpaces`): L-BFGS's
#: forward steps plus adjoint products per training solve above this many times what
#: Newton's local Hessians cost per step (`Newton.step_cost`). With the structured
#: Hessians (6 gradients) a fresh coordinates energy (100 graphs, epochs 12-14) took 23.7
#: L-BFGS units per solve and a Newton epoch cost 1.68 L-BFGS epochs: break-even near 40
#: units, 6.7 per gradient (bench/newton.py, session 37). Before them, with generic
#: Hessians: on coordinates (40 columns) a Newton epoch cost about
#: 2.6 L-BFGS epochs of 17.6 + ~20 steps while the energy was soft, i.e. ~2.4 units per
#: column at 2 Newton steps, ~4.5-6.5 at the 4-6 steps of a stiff energy (break-even);
#: L-BFGS reached 367 units (20 s per epoch) by epoch 370 (results/table1.md,
#: "Protocols"). At 4 the switch came at epoch 250 (154 units) where Newton's epochs were
#: still about twice L-BFGS's (measured beside three jobs).
AUTO_SWITCH = 6
#: A step reuses the last factorisation (a chord step, p = −F⁻¹∇E with F factorised at an
#: earlier iterate) while the step before it shrank ‖∇E‖ at least this much and moved;
#: otherwise it factorises afresh. Measured on a trained PROTEINS energy (fold 1, epoch
#: 600) from the training warm start: ‖∇E‖ 0.25 → 2.0e-4 → 3.3e-7 with one factorisation
#: where fresh steps took two (→ 1.4e-10); `bench/newton_cost.py --run`.
REUSE_RATIO = 0.25
#: Hessian-vector products the adjoint's conjugate gradients, preconditioned by the
#: forward solve's last factorisation, may take before factorising at H* instead (the
#: same energy: 2-3 products to 1e-10 against one factorisation costing ~8 gradients).
ADJOINT_PCG_STEPS = 12
#: Factorisations are reused only where one costs at least this many gradients of E on
#: the batch (`Newton.economised`). Where it is nearly free (small graphs: chains, MUTAG,
#: the synthetic tasks, 0.02-0.03 gradients) reuse does not pay: on chains a warm solve
#: took 10-11 chord steps and the adjoint 8 products where 2-3 fresh steps and one
#: factorisation had done (tests/test_newton.py's auto run, session 45). PROTEINS' cost
#: ~15-18 gradients.
REUSE_MIN_COST = 4.0


class Newton(AbstractSolver):
    """Damped Newton steps with per-graph dense Hessians (module docstring).

    ``max_nodes`` and ``max_degree`` must cover the largest graph and in-degree of every
    batch it solves (the block and slot sizes are static): build it with `for_graphs`.
    Unlike `LBFGS` it needs the model, not only E: `minimise` and `embed` call `solve`.
    It brings its own adjoint: implicit differentiation through a Newton solve reuses the
    forward's factors as a preconditioner, or factorises the blocks at H* once
    (`adjoint`). ``precision`` as for every solver (float64 inside a
    float32 model: the whole solve runs in float64, to float64's tolerance).

    Its default tolerance is the solve dtype's (1e-6 under float64 mixed precision), where
    first-order solvers keep the model dtype's: a quadratic step makes the last digits
    nearly free, and stopping at 1e-4 leaves H* off by up to 1e-4/μ = 2.5e-3 along the
    energy's softest directions (μ ≥ β = 0.04) — a warm start within 1e-4 is accepted
    without a step. On chains of 100 nodes, where the signal to learn lives in those
    directions, a run that collapsed at 1e-4 solved its fold at 1e-6 (results/table1.md,
    "Solve tolerance and chains").
    """

    max_nodes: int = 0
    max_degree: int = 0
    #: (size, capacity) per graph-size bucket and (in-degree bound, capacity) per node
    #: group (`_newton_layout`); empty: one bucket of ``max_nodes``, one group of
    #: ``max_degree``.
    size_buckets: tuple = ()
    degree_groups: tuple = ()
    max_steps: int = 100
    backtracks: int = 30
    #: A step reuses the last factors while the step before shrank ‖∇E‖ by at least this
    #: (`REUSE_RATIO`; 0: every step factorises), and the adjoint tries at most
    #: ``adjoint_products`` preconditioned CG products before it factorises at H*
    #: (`ADJOINT_PCG_STEPS`; 0: it always factorises).
    reuse_ratio: float = REUSE_RATIO
    adjoint_products: int = ADJOINT_PCG_STEPS

    def tolerance(self, h) -> float:
        """``tol``, else `default_tolerance` of the dtype the solve runs in."""
        return (
            default_tolerance(working_dtype(self.precision, h.dtype))
            if self.tol is None
            else self.tol
        )

    @classmethod
    def for_graphs(cls, graphs: Sequence, **options) -> Newton:
        """A Newton solver sized for ``graphs`` (`GraphData` or `Graph` batches): its size
        buckets and degree groups planned from every graph's node count and every node's
        in-degree (`plan_buckets`, `plan_groups`), so any batch of them fits."""
        sizes = np.concatenate([_graph_sizes(g) for g in graphs])
        degrees = np.concatenate([_in_degrees(g) for g in graphs])
        return cls(
            max_nodes=int(sizes.max()),
            max_degree=int(degrees.max()) if degrees.size else 0,
            size_buckets=plan_buckets(sizes),
            degree_groups=plan_groups(degrees),
            **options,
        )

    def fitted(self, graphs: Sequence) -> Newton:
        """This solver for the batches ``graphs`` only: its plan's capacities counted on
        them (the most graphs of a size bucket, nodes of a degree group, any one batch
        holds; `fitted_plan`), the buckets and groups none of them uses dropped. The
        blocks of those batches are the same; what goes is the padding a plan counted on
        a whole dataset leaves in a smaller batch (a PROTEINS validation batch of 100
        graphs kept slots for every graph of up to 620 nodes: `bench/newton_cost.py`,
        ``fitted_plan_speedup``). A solver without a plan is returned as it is."""
        if not self.size_buckets or not graphs:
            return self
        buckets = fitted_plan(self.size_buckets, [_graph_sizes(g) for g in graphs])
        if not buckets:
            return self
        groups = self.degree_groups
        if groups:
            degrees = [_in_degrees(g) for g in graphs]
            groups = fitted_plan(groups, degrees, keep_first=True)
        return dataclasses.replace(
            self,
            max_nodes=buckets[-1][0],
            max_degree=max(b for b, _ in groups) if groups else self.max_degree,
            size_buckets=buckets,
            degree_groups=groups,
        )

    def economised(self, model, graph: Graph) -> Newton:
        """This solver, reusing factors (``reuse_ratio``, ``adjoint_products``) only where
        factorising the batch ``graph``'s blocks costs at least `REUSE_MIN_COST`
        gradients of ``model``'s E (`factorisation_flops` / `gradient_flops`); elsewhere
        every step and every adjoint factorises, as a factorisation is nearly free."""
        flops = self.factorisation_flops(graph.num_graphs, model.hidden)
        if flops >= REUSE_MIN_COST * gradient_flops(model, graph):
            return self
        return dataclasses.replace(self, reuse_ratio=0.0, adjoint_products=0)

    @staticmethod
    def joined(solvers: Sequence[Newton]) -> Newton:
        """One solver (the first one's options) for the batches of every solver of
        ``solvers``: every bucket and group bound of their plans (`joined_plan`), with
        capacities for `fitted` to count on all those batches; any of them without a plan:
        blocks padded to the largest graph."""
        first = solvers[0]
        planned = all(s.size_buckets and s.degree_groups for s in solvers)
        buckets = joined_plan([s.size_buckets for s in solvers]) if planned else ()
        groups = joined_plan([s.degree_groups for s in solvers], True) if planned else ()
        return dataclasses.replace(
            first,
            max_nodes=max(s.max_nodes for s in solvers),
            max_degree=max(s.max_degree for s in solvers),
            size_buckets=buckets,
            degree_groups=groups,
        )

    def _buckets(self, num_graphs: int) -> tuple:
        return self.size_buckets or ((self.max_nodes, num_graphs),)

    def memory_bytes(self, num_graphs: int, hidden: int, itemsize: int = 8) -> int:
        """Peak bytes of the per-graph Hessian blocks of a batch of ``num_graphs`` graphs:
        Σ over size buckets of capacity × (k · size)² entries, held about three times at
        once (assembled, padded, factorised)."""
        blocks = sum(min(c, num_graphs) * (s * hidden) ** 2 for s, c in self._buckets(num_graphs))
        return 3 * blocks * itemsize

    def check_memory(self, num_graphs: int, hidden: int, itemsize: int = 8) -> None:
        """Raise ValueError, before anything is compiled, when a batch of ``num_graphs``
        graphs would need more than `MEMORY_LIMIT` bytes of Hessian blocks."""
        need = self.memory_bytes(num_graphs, hidden, itemsize)
        if need > MEMORY_LIMIT:
            raise ValueError(
                f"energy_solver newton needs {need / 2**30:.1f} GiB for the Hessians of a "
                f"batch of {num_graphs} graphs of up to {self.max_nodes} nodes (hidden "
                f"{hidden}; limit {MEMORY_LIMIT / 2**30:.0f} GiB): set a smaller batch_size "
                "or energy_solver lbfgs."
            )

    def check_batch(self, graph) -> None:
        """Raise ValueError, on the host, when the batch ``graph`` holds a graph larger than
        ``max_nodes``, a node of in-degree above ``max_degree``, or more graphs of a size
        bucket, or nodes of a degree group, than the plan's capacity: Newton would still
        be right there, only slow (`_newton_layout`), so a solver sized for other graphs
        is refused instead."""
        sizes, degrees = _graph_sizes(graph), _in_degrees(graph)
        problem = _past_plan(sizes, self._buckets(graph.num_graphs), "graphs of")
        if not problem and self.degree_groups:
            capacity = ((b, c or degrees.size) for b, c in self.degree_groups)
            problem = _past_plan(degrees, tuple(capacity), "nodes of in-degree")
        if sizes.max() > self.max_nodes or degrees.max(initial=0) > self.max_degree:
            problem = f"its largest graph or in-degree exceeds {self.max_nodes} / {self.max_degree}"
        if problem:
            raise ValueError(
                f"energy_solver newton was sized for other graphs: {problem}; build it "
                "with Newton.for_graphs from every graph it solves."
            )

    def columns(self, hidden: int) -> int:
        """Local Hessian columns per step of a generic energy, k(1 + d): how wide and
        connected the graphs are."""
        return hidden * (1 + self.max_degree)

    def factorisation_flops(self, num_graphs: int, hidden: int) -> float:
        """Flops of one step's Cholesky factorisations for a batch of ``num_graphs`` graphs:
        Σ over size buckets of capacity × (k · size)³ / 3."""
        return sum(min(c, num_graphs) * (s * hidden) ** 3 / 3 for s, c in self._buckets(num_graphs))

    def step_cost(self, model, graph: Graph | None = None) -> float:
        """What one Newton step costs, in gradients of E: ``model``'s local Hessians
        (`AbstractEnergyGNN.hessian_columns` at this solver's largest in-degree) plus, for
        the batch ``graph``, its factorisations' flops in gradients' worth of flops
        (`factorisation_flops` / `gradient_flops`) — what makes a batch of large graphs
        dearer per step than its local Hessians say. Small graphs' factorisations are
        nearly free (coordinates, MNIST terrain: 0.02-0.03 gradients); PROTEINS' (blocks up
        to 620 nodes × 2) cost 18 gradients, so "auto" hands a PROTEINS run to Newton at
        `AUTO_SWITCH` × 24 = 145 L-BFGS units, where a Newton epoch was measured to cost
        what 167 units do (README, "Choosing the energy solver")."""
        cost = model.hessian_columns(self.max_degree)
        if graph is None:
            return cost
        flops = self.factorisation_flops(graph.num_graphs, model.hidden)
        return cost + flops / gradient_flops(model, graph)

    def fits(self, batch_graphs: Sequence[int], hidden: int, itemsize: int = 8) -> bool:
        """Whether "auto" may use Newton at all for batches of ``batch_graphs`` graphs: a
        batch's blocks in `AUTO_MEMORY` bytes. How wide they are is a matter of cost, which
        `step_cost` counts."""
        return all(self.memory_bytes(g, hidden, itemsize) <= AUTO_MEMORY for g in batch_graphs)

    def pays(self, batch_graphs: Sequence[int], hidden: int, itemsize: int = 8) -> bool:
        """Whether Newton is the better solver from the start for batches of
        ``batch_graphs`` graphs (`fits`, blocks at most `AUTO_BLOCK` wide, at most
        `AUTO_COLUMNS` columns); otherwise L-BFGS. Dense graphs (coordinates, MNIST
        terrain) start on L-BFGS: while the energy is soft a first-order solve there takes
        few steps."""
        narrow = hidden * self.max_nodes <= AUTO_BLOCK and self.columns(hidden) <= AUTO_COLUMNS
        return narrow and self.fits(batch_graphs, hidden, itemsize)

    def outpaces(self, lbfgs_units: float, step_cost: float) -> bool:
        """Whether Newton now beats an L-BFGS that takes ``lbfgs_units`` forward steps plus
        adjoint products per training solve, Newton's steps costing ``step_cost``
        gradients each (`step_cost`; `AUTO_SWITCH`): a stiffening energy makes L-BFGS's
        count grow while Newton's stays at a few steps."""
        return lbfgs_units > AUTO_SWITCH * step_cost

    def run(self, fn, h0):
        raise TypeError(
            "Newton needs the model's local Hessians, not only E: call minimise(model, "
            "graph, solver=Newton.for_graphs(...)) or embed(...)."
        )

    def _layout(self, graph) -> Layout:
        if self.max_nodes < 1:
            raise ValueError("Newton needs max_nodes and max_degree: use Newton.for_graphs.")
        groups = self.degree_groups or ((self.max_degree, 0),)
        return Layout.of(graph, self._buckets(graph.num_graphs), groups)

    def _blocks(self, model, graph, h, prepared, layout: Layout | None = None):
        layout = self._layout(graph) if layout is None else layout
        return Blocks(model, graph, h, layout, prepared)

    def solve(self, model, graph: Graph, h0) -> tuple[jax.Array, SolveStats]:
        """H* = argmin E from ``h0`` and the solve's `SolveStats` (in ``h0``'s dtype)."""
        h, stats, _ = self.solve_factored(model, graph, h0)
        return h, stats

    def solve_factored(self, model, graph: Graph, h0):
        """`solve`, with ``(factors, factored)``: the factors of its last factorisation
        (`Blocks.arrays`, in the solve's dtype) and whether it made one (a warm start
        within tolerance takes no step), for `adjoint` to precondition with.

        A step factorises afresh only when it must (the first step, or the step before
        it shrank ‖∇E‖ by less than ``reuse_ratio`` or did not move); otherwise it reuses
        the last factors (a chord step). The solve stops when a freshly factorised step
        cannot move, at ``tol`` or after ``max_steps``."""
        tol = self.tolerance(h0)
        dtype = working_dtype(self.precision, h0.dtype)
        model, graph, h = cast_floats((model, graph, h0), dtype)
        prepared, layout = model.prepare(graph), self._layout(graph)

        def energies(h):
            e = model.node_energies(graph, h, h[graph.senders], prepared)
            return jax.ops.segment_sum(e, graph.node_graph, num_segments=graph.num_graphs)

        def value_and_grad(h):
            e, pullback = jax.vjp(energies, h)
            return e, pullback(jnp.ones_like(e))[0]

        def per_graph(x):
            return jax.ops.segment_sum(
                jnp.sum(x, axis=-1), graph.node_graph, num_segments=graph.num_graphs
            )

        def line_search(h, e0, g, p):
            """(t, E, ∇E) per graph at the accepted step h + t p (t = 0, E and ∇E
            unchanged, where no trial was accepted): the last trial's evaluation is
            the next step's, not computed again."""
            slope, g0 = per_graph(g * p), per_graph(g * g)

            def trial(t):
                e1, g1 = value_and_grad(h + t[graph.node_graph, None] * p)
                armijo = e1 <= e0 + ARMIJO * t * slope
                floor = (e1 <= e0 + ROUNDING_SLACK * jnp.abs(e0)) & (per_graph(g1 * g1) < g0)
                return armijo | floor, e1, g1

            def cond(carry):
                _, ok, _, _, count = carry
                return ~jnp.all(ok) & (count < self.backtracks)

            def body(carry):
                t, ok, _, _, count = carry
                t = jnp.where(ok, t, t / 2)
                return t, *trial(t), count + 1

            one = jnp.ones(graph.num_graphs, h.dtype)
            t, ok, e1, g1, _ = jax.lax.while_loop(cond, body, (one, *trial(one), jnp.array(0)))
            moved = ok[graph.node_graph, None]
            return jnp.where(ok, t, 0.0), jnp.where(ok, e1, e0), jnp.where(moved, g1, g)

        def factorise(h):
            return self._blocks(model, graph, h, prepared, layout).arrays

        def step(carry):
            h, e, g, count, moved, arrays, ratio, _ = carry
            fresh = (count == 0) | (ratio > self.reuse_ratio) | ~moved
            if self.reuse_ratio:
                arrays = jax.lax.cond(fresh, factorise, lambda _: arrays, h)
            else:  # every step factorises (no branch: under vmap both would run)
                arrays = factorise(h)
            p = -Blocks.from_arrays(graph, layout, arrays).solve(g)
            # A block that is not positive definite (a non-convex energy, e.g. GSD-GNN on a
            # directed graph) has no Cholesky factor: its graph takes the gradient step.
            p = jnp.where(jnp.all(jnp.isfinite(p), axis=-1, keepdims=True), p, -g)
            t, e, g_new = line_search(h, e, g, p)
            new = h + t[graph.node_graph, None] * p
            ratio = _norm(g_new) / jnp.maximum(_norm(g), jnp.finfo(h.dtype).tiny)
            return new, e, g_new, count + 1, jnp.any(new != h), arrays, ratio, fresh

        def cond(carry):
            _, _, g, count, moved, _, _, fresh = carry
            return (count < self.max_steps) & (_norm(g) > tol) & (moved | ~fresh)

        e, g = value_and_grad(h)
        arrays = jax.tree.map(jnp.zeros_like, jax.eval_shape(factorise, h))
        start = (h, e, g, jnp.array(0), jnp.array(True), arrays, jnp.array(1.0, h.dtype))
        h, _, g, steps, _, arrays, _, _ = jax.lax.while_loop(cond, step, (*start, jnp.array(False)))
        residual = _norm(g)
        stats = SolveStats(jnp.asarray(steps), residual, residual <= tol)
        return h.astype(h0.dtype), narrowed(stats, h0.dtype), (arrays, steps > 0)

    def adjoint(self, model, graph: Graph, h_star, cotangent, tol: float, factors=None):
        """λ = (∇²E(H*))⁻¹ ``cotangent`` with `SolveStats` (steps: Hessian-vector products,
        plus one for a factorisation at H*; the true relative residual
        ‖∇²E λ − c‖ / ‖c‖ against ``tol``). With ``factors`` (`solve_factored`'s, from the
        forward solve that found H*): conjugate gradients preconditioned by them, at most
        ``adjoint_products`` products; without, or when those do not reach ``tol``, one
        Cholesky solve per graph at H*."""
        dtype = working_dtype(self.precision, h_star.dtype)
        model, graph, h, c = cast_floats((model, graph, h_star, cotangent), dtype)
        prepared, layout = model.prepare(graph), self._layout(graph)
        from ._implicit import _adjoint_operator  # _implicit imports this module

        matvec = _adjoint_operator(model, graph, h)

        def factorised(steps):
            return self._blocks(model, graph, h, prepared, layout).solve(c), steps + 1

        if factors is None or not self.adjoint_products:
            lam, steps = factorised(jnp.array(0))
        else:
            arrays, factored = factors
            precondition = Blocks.from_arrays(graph, layout, arrays).solve

            def preconditioned(_):
                target = _pcg_tolerance(tol, dtype)
                lam, pcg = conjugate_gradient(
                    matvec, c, target, self.adjoint_products, precondition=precondition
                )
                return jax.lax.cond(
                    pcg.converged, lambda s: (lam, s), factorised, jnp.asarray(pcg.steps)
                )

            lam, steps = jax.lax.cond(
                factored, preconditioned, lambda _: factorised(jnp.array(0)), None
            )
        stats = true_residual_stats(matvec, c, lam, steps, tol)
        return lam.astype(h_star.dtype), narrowed(stats, h_star.dtype)


def _pcg_tolerance(tol: float, dtype) -> float:
    """What the preconditioned adjoint aims at: ``tol``, or 1e-10 in float64 (the
    float64 adjoint's default) when that is tighter — a float32 model's adjoint asks for
    1e-4, which its Cholesky solve in float64 overshot by far, and a few more products
    keep that accuracy."""
    return min(tol, 1e-10) if jnp.dtype(dtype) == jnp.float64 else tol


#: `gradient_flops` per (model structure, parameter shapes, batch shapes).
_GRADIENT_FLOPS: dict = {}


def gradient_flops(model, graph: Graph) -> float:
    """Flops of one gradient ∇_H E of ``model`` on the batch ``graph``: XLA's count for
    the lowered program (nothing is compiled), remembered per model structure and shapes."""
    leaves = [(x.shape, x.dtype) for x in jax.tree.leaves(model) if hasattr(x, "shape")]
    shapes = [(x.shape, x.dtype) for x in jax.tree.leaves(graph) if hasattr(x, "shape")]
    key = (jax.tree.structure(model), tuple(leaves), tuple(shapes))
    if key not in _GRADIENT_FLOPS:
        h = jax.ShapeDtypeStruct((graph.num_nodes, model.hidden), graph.nodes.dtype)
        lowered = jax.jit(jax.grad(lambda x: model.energy(graph, x))).lower(h)
        cost = lowered.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        _GRADIENT_FLOPS[key] = max(float(cost["flops"]), 1.0)
    return _GRADIENT_FLOPS[key]


def _graph_sizes(graph) -> np.ndarray:
    """Node counts of the real graphs in ``graph`` (a `GraphData` or a `Graph` batch)."""
    n_node = getattr(graph, "n_node", None)
    if n_node is None:
        return np.array([graph.num_nodes])
    n_node = np.asarray(n_node)
    return n_node[n_node > 0]


def _in_degrees(graph) -> np.ndarray:
    """In-degree of every real node of ``graph`` (real edges only)."""
    receivers = np.asarray(graph.receivers)
    edge_mask = getattr(graph, "edge_mask", None)
    if edge_mask is not None:
        receivers = receivers[np.asarray(edge_mask)]
    degrees = np.bincount(receivers, minlength=int(graph.num_nodes))
    node_mask = getattr(graph, "node_mask", None)
    return degrees if node_mask is None else degrees[np.asarray(node_mask)]


def _past_plan(values: np.ndarray, plan: tuple, what: str) -> str | None:
    """What in ``values`` (graph sizes or node degrees) overflows ``plan`` ((bound,
    capacity), …; each value in the first bound that holds it), or None."""
    for (bound, capacity), count in zip(plan, plan_counts(plan, values)):
        if count > capacity:
            return f"{count} {what} up to {bound} where it holds {capacity}"
    return None
