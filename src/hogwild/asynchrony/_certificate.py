"""A step-size certificate for asynchronous energy minimisation (Proposition 4.2).

Setting. Node i fires at most every S steps. A view it reads is at most S + D steps old; a
packet g_ji read from time τ ≥ t − D was built by j from views j drew when it last fired
(up to S − 1 steps before τ), which reach back D further: everything i's step depends on is
at most B' = S + 2D steps old (B' = S + D + D). Its step is
h_i ← h_i − α s_i with s_i = Σ_{j∈N̄(i)} ∇_{h_i} e_j(z_ij), each e_j evaluated at a mix of
past states. With K_e the largest |eigenvalue| of any node energy's Hessian ∇²e_j, K₁ that
of ∇²E and d the largest degree, the error against the true gradient obeys
‖s − ∇E‖ ≤ (d + 1) K_e sqrt(B'(1 + d + d²)) · sqrt(Σ_{last B' steps} ‖ΔH‖²) (each e_j touches
the 1-hop blocks of j, so the 2-hop blocks of i). The descent lemma summed over time then
gives Σ_t ‖s(t)‖² < ∞, hence ∇E → 0, whenever

    α < α_safe = 1 / (K₁/2 + (d + 1) K_e B' sqrt(1 + d + d²)).

This is sufficient and conservative: the paper (Appendix D) proves only that some α₀ > 0
exists. The constants are estimated by power iteration at the synchronous minimiser H* (and
at H = 0, keeping the larger K₁), so for a non-quadratic energy they are local estimates.
The strong-convexity constant μ (smallest eigenvalue of ∇²E at H*, by inverse iteration
with conjugate gradients) is reported with the condition number K₁/μ, which sets how
many steps any gradient method needs: asynchronous gradient steps need about
(S+1)/2 · (K₁/μ) · ln(1/tol).
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import jax.random as jr
from jax.scipy.sparse.linalg import cg

from ..graph import Graph
from ..models._base import check_graph
from ..solve import LBFGS, minimise
from ._schedule import Schedule


@dataclasses.dataclass(frozen=True)
class Certificate:
    """Whether asynchronous inference of a model on a graph is guaranteed to converge.

    ``safe`` is True / False, and ``reason`` says why. For energies: ``smoothness`` K₁,
    ``strong_convexity`` μ, ``local_smoothness`` K_e, ``safe_step`` α_safe and the
    ``step_size`` checked (α_safe when none was given).
    """

    family: str
    safe: bool
    reason: str
    staleness: int
    max_degree: int
    smoothness: float = math.nan
    strong_convexity: float = math.nan
    local_smoothness: float = math.nan
    safe_step: float = math.nan
    step_size: float = math.nan

    def summary(self) -> str:
        """One paragraph for people."""
        verdict = "SAFE" if self.safe else "NOT CERTIFIED"
        lines = [f"{verdict}: {self.reason}"]
        if self.family == "optimisation":
            lines.append(
                f"K1 = {self.smoothness:.4g}, mu = {self.strong_convexity:.4g} "
                f"(condition {self.smoothness / self.strong_convexity:.3g}), "
                f"K_e = {self.local_smoothness:.4g}, max degree {self.max_degree}, "
                f"staleness B' = {self.staleness}: alpha_safe = {self.safe_step:.3e}, "
                f"alpha = {self.step_size:.3e}"
            )
        return "\n".join(lines)


def _power(matvec, v0, iterations: int = 60):
    """Largest |eigenvalue| of a symmetric operator by power iteration."""

    def body(_, v):
        w = matvec(v)
        return w / jnp.maximum(jnp.linalg.norm(w), jnp.finfo(v.dtype).tiny)

    v = jax.lax.fori_loop(0, iterations, body, v0 / jnp.linalg.norm(v0))
    return jnp.abs(jnp.vdot(v, matvec(v)))


@eqx.filter_jit
def _energy_constants(model, graph: Graph):
    """(K₁, μ, K_e) at H* (K₁ also at 0), by power iteration on Hessian-vector products."""
    h_star = minimise(model, graph, solver=LBFGS()).value
    prepared = model.prepare(graph)
    grad = jax.grad(lambda h: model.energy(graph, h, prepared))
    v0 = jr.normal(jr.PRNGKey(0), h_star.shape, h_star.dtype)
    _, hvp_star = jax.linearize(grad, h_star)
    _, hvp_zero = jax.linearize(grad, jnp.zeros_like(h_star))
    k_star = _power(hvp_star, v0)
    k1 = jnp.maximum(k_star, _power(hvp_zero, v0))
    # μ by inverse iteration (CG solves): a shifted power iteration k·I − ∇²E stalls when
    # K₁/μ is large (trained energies reach 3e4).
    # Padding nodes (never updated, Hessian β·I) are moved out of the way: eigenvalue k_star.
    real = graph.node_mask[:, None]

    def hvp_real(v):
        return jnp.where(real, hvp_star(jnp.where(real, v, 0.0)), k_star * v)

    mu = 1.0 / _power(lambda v: cg(hvp_real, v, tol=1e-8, maxiter=2000)[0], v0, iterations=30)

    def phi(args):
        h, view = args
        return jnp.sum(model.node_energies(graph, h, view, prepared))

    point = (h_star, h_star[graph.senders])
    _, hvp_local = jax.linearize(jax.grad(phi), point)
    start = (v0, jr.normal(jr.PRNGKey(1), point[1].shape, h_star.dtype))
    flat, unravel = jax.flatten_util.ravel_pytree(start)
    ke = _power(lambda v: jax.flatten_util.ravel_pytree(hvp_local(unravel(v)))[0], flat)
    return k1, mu, ke


def _max_degree(graph: Graph) -> int:
    real = jnp.where(graph.edge_mask, 1, 0)
    return int(jnp.max(jax.ops.segment_sum(real, graph.receivers, num_segments=graph.num_nodes)))


def safe_step(k1: float, ke: float, max_degree: int, staleness: int) -> float:
    """α_safe = 1 / (K₁/2 + (d + 1) K_e B' sqrt(1 + d + d²)) (module docstring)."""
    d = max_degree
    return 1.0 / (0.5 * k1 + (d + 1) * ke * staleness * math.sqrt(1 + d + d * d))


def certify(
    model, graph: Graph, schedule: Schedule = Schedule(), step_size: float | str | None = None
) -> Certificate:
    """Check that asynchronous inference of ``model`` on ``graph`` under ``schedule``
    converges: a step-size bound for energies, the contraction for fixed points; explicit
    models are never certified.

    ``step_size``: the α to check; None checks (and proposes) α_safe; ``"sync"`` checks
    1/K₁, the step synchronous gradient descent would use (faster, rarely certified).
    A graph whose feature sizes are not the model's is a `GraphError` (`check_graph`).
    """
    check_graph(model, graph)
    degree = _max_degree(graph)
    if model.family == "explicit":
        reason = "explicit GNN: a fixed number of layers; stale views mix layers (Sec. 4.1)"
        return Certificate("explicit", False, reason, schedule.staleness_bound, degree)
    if model.family == "fixed-point":
        norm = float(jnp.max(jnp.sum(jnp.abs(model.weight), axis=1)))
        ok = norm <= model.kappa * (1 + 1e-6) and model.kappa < 1  # float32 projection
        reason = (
            f"contraction: |theta_m|_inf = {norm:.4g} <= kappa = {model.kappa} < 1 "
            "(Prop. 4.1, any bounded staleness)"
            if ok
            else f"|theta_m|_inf = {norm:.4g} exceeds kappa = {model.kappa}: not a contraction"
        )
        return Certificate("fixed-point", bool(ok), reason, schedule.staleness_bound, degree)
    staleness = schedule.stagger + 2 * schedule.delay
    k1, mu, ke = (float(x) for x in _energy_constants(model, graph))
    alpha_safe = safe_step(k1, ke, degree, staleness)
    if step_size == "sync":
        alpha = 1.0 / k1
    else:
        alpha = alpha_safe if step_size is None else float(step_size)
    ok = 0 < alpha <= alpha_safe and mu > 0
    reason = (
        f"step size {alpha:.3e} <= alpha_safe {alpha_safe:.3e} for staleness {staleness}"
        if ok
        else f"step size {alpha:.3e} > alpha_safe {alpha_safe:.3e}: convergence not guaranteed"
    )
    return Certificate(
        "optimisation", bool(ok), reason, staleness, degree, k1, mu, ke, alpha_safe, alpha
    )
