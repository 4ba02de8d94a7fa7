"""A rigorous bound on the energy GNN's curvature, and the local scale that caps its
condition number (``EnergyGNN(max_condition=κ)``).

Write U = Σ_i u_i for the non-quadratic part of E = U + (β/2)‖H‖². For any direction V,

    Vᵀ ∇²U V <= Σ_n ‖v_n‖² r_n,   r_n = d_n + Σ_{e = (n -> i)} w_e,           (1)

with d_n (node n's own energy on its own state) and w_e (receiver i's energy on sender
n's state) built from the PICNN bounds of `PICNN.derivative_bounds` at the actual gates,
edge weights A_e and attention weights α_e. Term by term, with z_i = (m_i, h_i):

    vᵀ∇²u_i v = δzᵀ ∇²u δz + Σ_c (∂u/∂m_c) vᵀ∇²m_ic v,  δz = (Dm_i v, v_i);
    ‖Dm_i v‖ <= a_i ‖v_i‖ + Σ_e b_e ‖v_j‖, so ‖Dm_i v‖² <= T_i (a_i ‖v_i‖² + Σ_e b_e ‖v_j‖²)
    (Cauchy–Schwarz, T_i = a_i + Σ_e b_e); a message's Hessian quadratic form on (v_i, v_j)
    is <= (‖S_ii‖ + ‖S_ij‖) ‖v_i‖² + (‖S_jj‖ + ‖S_ij‖) ‖v_j‖², norms Frobenius of
    elementwise bounds (>= spectral norms). So, with C_i >= ‖∇²u‖ and G_ic >= |∂u/∂m_c|,

    d_i = C_i (T_i a_i + 1) + Σ_c G_ic (Σ_e qr_ec + q_self,ic),  w_e = C_i T_i b_e + Σ_c G_ic qs_ec.

Since U is convex, β <= λ(∇²E) <= β + max_n r_n. The scaled energy Σ_i s_i u_i + (β/2)‖H‖²
with the local (two-hop) rule

    s_i = min(1, (κ − 1) β / max(r_i, max_{e = (j -> i)} r_j))                      (2)

has, by (1) with s_n d_n + Σ_e s_i w_e <= (κ − 1) β / r_n · r_n, every Hessian eigenvalue in
[β, κβ] for every H and every parameter value: condition number <= κ. Everything here is
independent of H (computed once, in ``prepare``) and local: r_n needs the w_e its
out-neighbours send back, s_i the r_j of its in-neighbours — two exchanges, once per solve,
no graph-global quantity, so a graph's scales do not depend on the batch it is in.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..graph import Graph


def _fro(x: Array, axes) -> Array:
    """Frobenius norm over ``axes`` (>= the spectral norm), kept off 0 so its gradient is finite."""
    tiny = jnp.finfo(x.dtype).tiny
    return jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis=axes), tiny))


def _edge_bounds(model, graph: Graph, edge_prep, alpha):
    """Per edge e = (j -> i) and message coordinate c, the bounds scaled by |A_e| α_e:
    (|∂m/∂h_i| (E, M, k), |∂m/∂h_j| (E, M, k), qr (E, M), qs (E, M))."""
    k = model.hidden
    jacs, hesses = zip(
        *(jax.vmap(m.derivative_bounds)(p) for m, p in zip(model.message, edge_prep))
    )
    if alpha is not None:
        jacs = [a[:, None, None] * j for a, j in zip(alpha.T, jacs)]
        hesses = [a[:, None, None, None] * h for a, h in zip(alpha.T, hesses)]
    weight = jnp.abs(graph.edge_weight)
    jac = jnp.concatenate(jacs, 1) * weight[:, None, None]
    hess = jnp.concatenate(hesses, 1) * weight[:, None, None, None]
    if model.variant == "node":  # y = h_j only
        return jnp.zeros_like(jac), jac, jnp.zeros(jac.shape[:2], jac.dtype), _fro(hess, (2, 3))
    cross = _fro(hess[..., :k, k:], (2, 3))
    qr = _fro(hess[..., :k, :k], (2, 3)) + cross
    qs = _fro(hess[..., k:, k:], (2, 3)) + cross
    return jac[..., :k], jac[..., k:], qr, qs


def _self_bounds(model, self_prep):
    """The self-message's bounds in h_i: (|∂m_self/∂h_i| (N, M, k), q_self (N, M)); in the
    edge variant y = (h_i, h_i), so both halves fold onto h_i."""
    k = model.hidden
    jac, hess = jax.vmap(model.self_message.derivative_bounds)(self_prep)
    if model.variant != "node":
        jac = jac[..., :k] + jac[..., k:]
        hess = hess[..., :k, :k] + hess[..., :k, k:] + hess[..., k:, :k] + hess[..., k:, k:]
    return jac, _fro(hess, (2, 3))


def curvature_terms(model, graph: Graph, parts) -> tuple[Array, Array]:
    """(d (nodes,), w (edges,)) of Eq. (1) for an `EnergyGNN` from ``parts`` = (edge gates,
    self gates, update gates, attention), the H-independent half of ``model.prepare``.
    Padding nodes (whose u is masked out) and padding edges (weight 0) get 0."""
    edge_prep, self_prep, update_prep, alpha = parts
    n, recv = graph.num_nodes, graph.receivers
    jr_e, js_e, qr, qs = _edge_bounds(model, graph, edge_prep, alpha)
    j_self, q_self = _self_bounds(model, self_prep)
    u_jac, u_hess = jax.vmap(model.update.derivative_bounds)(update_prep)
    grad_m = u_jac[:, 0, : j_self.shape[1]]  # G_ic >= |∂u_i/∂m_c|
    c_u = _fro(u_hess[:, 0], (1, 2))  # C_i >= ‖∇²u_i‖
    a = _fro(jax.ops.segment_sum(jr_e, recv, num_segments=n) + j_self, (1, 2))
    b = _fro(js_e, (1, 2))
    t = a + jax.ops.segment_sum(b, recv, num_segments=n)
    q_own = jax.ops.segment_sum(qr, recv, num_segments=n) + q_self
    d = c_u * (t * a + 1.0) + jnp.sum(grad_m * q_own, -1)
    w = c_u[recv] * t[recv] * b + jnp.sum(grad_m[recv] * qs, -1)
    return jnp.where(graph.node_mask, d, 0.0), jnp.where(graph.node_mask[recv], w, 0.0)


def curvature_rows(graph: Graph, d, w, scale=None) -> Float[Array, " nodes"]:
    """r_n = s_n d_n + Σ_{e = (n -> i)} s_i w_e (Eq. 1; s = 1 when ``scale`` is None):
    λ_max(∇²Σ_i s_i u_i) <= max_n r_n."""
    if scale is not None:
        d, w = scale * d, scale[graph.receivers] * w
    return d + jax.ops.segment_sum(w, graph.senders, num_segments=graph.num_nodes)


def local_scale(graph: Graph, d, w, beta: float, max_condition: float) -> Float[Array, " nodes"]:
    """s_i = min(1, (κ − 1) β / max(r_i, max_{e = (j -> i)} r_j)) (Eq. 2), κ = ``max_condition``."""
    rows = curvature_rows(graph, d, w)
    incoming = jax.ops.segment_max(rows[graph.senders], graph.receivers, graph.num_nodes)
    worst = jnp.maximum(rows, incoming)
    budget = (max_condition - 1.0) * beta
    return jnp.minimum(1.0, budget / jnp.maximum(worst, jnp.finfo(rows.dtype).tiny))
