"""The energy GNN's local Hessians from its structure: a few small passes instead of k(1 + d).

Node i's energy is e_i = s_i u(z_i) + (β/2)‖h_i‖² with z_i = (m_i, h_i) and
m_i = Σ_{e→i} μ_e(y_e) + μ_self(y_i), where μ_e is edge e's message term (`edge_messages`,
convex inputs y_e = (h_i, v_e) edge-wise, v_e node-wise; v_e is i's view of the sender)
and μ_self the self-loop's (y_i = (h_i, h_i), or h_i). In i's slot coordinates (slot 0: h_i,
slot r + 1: the view on i's r-th incoming edge, `ReceiverSlots`) the chain rule gives

    ∇²e_i = D_iᵀ U_i D_i + Σ_{e→i} P_eᵀ Q_e P_e + Q_self,i + β I₀₀,

with g_i = s_i ∇u(z_i) = (λ_i, ·), U_i = s_i ∇²u(z_i) ((M + k)², M the message size),
D_i = ∂z_i/∂slots (its m rows: Σ_e ∂μ_e/∂h_i + dμ_self/dh_i in slot 0, ∂μ_e/∂v_e in
slot r + 1; its h rows: I in slot 0), Q_e = ∇²_y (λ_i · μ_e)(y_e) placed by P_e on slots
(0, r + 1) and Q_self,i the same for the self-loop summed onto slot 0.

Cost: per edge a Jacobian and a Hessian of one small message (2 · dim y forward-mode
columns), per node a Hessian of u (M + k columns), and one (1 + d)k × (1 + d)k product per
node. The generic `AbstractEnergyGNN.local_hessians` takes k(1 + d) Hessian-vector
products of the whole batch's energy instead (40 on coordinates, whose graphs are nearly
complete). Both are exact; the tests hold them equal.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ..graph import Graph
from ._base import NodeGroup, ReceiverSlots


def _jacobian_and_weighted_hessian(f, lam, y):
    """(∂f/∂y, ∇²_y (λ · f)) at y for a vector function f."""
    return jax.jacfwd(f)(y), jax.hessian(lambda a: jnp.dot(lam, f(a)))(y)


def _own_and_view(matrix, k: int, node_wise: bool):
    """Split the y columns of an edge's Jacobian or Hessian rows into (own h_i, view v_e)
    parts; node-wise messages see no h_i (own part 0)."""
    if node_wise:
        return jnp.zeros_like(matrix), matrix
    return matrix[..., :k], matrix[..., k:]


class _Terms(eqx.Module):
    """What every node's local Hessian is built from, whatever its slots: the messages'
    Jacobians and λ-weighted Hessians per edge (``jac_view``, ``q_ov``, ``q_vo``, ``q_vv``,
    edges × …) and per node the slot-0 Jacobian of m (``jac_own``), u's curvature
    (``curvature``) and the slot-0 block of the messages' own curvature plus β
    (``own``)."""

    jac_view: jax.Array
    q_ov: jax.Array
    q_vo: jax.Array
    q_vv: jax.Array
    jac_own: jax.Array
    curvature: jax.Array
    own: jax.Array


def _terms(model, graph: Graph, h, h_view, prepared) -> _Terms:
    """The chain rule's pieces (module docstring) for every edge and node of ``graph``."""
    edge_prep, self_prep, update_prep, alpha, scale = prepared
    n, k = h.shape
    node_wise = model.variant == "node"
    edge_y, self_y = model._message_states(graph, h, h_view)
    m = model.aggregate(graph, h, h_view, prepared)
    size = m.shape[1]
    s = jnp.ones(n, h.dtype) if scale is None else scale
    s = jnp.where(graph.node_mask, s, 0.0)  # padding nodes keep only the β term

    def u(p, s_i, z):
        return s_i * model.update.convex_part(p, z)[0]

    z = jnp.concatenate([m, h], -1)
    lam = jax.vmap(jax.grad(u, 2))(update_prep, s, z)[:, :size]
    curvature = jax.vmap(jax.hessian(u, 2))(update_prep, s, z)  # (n, M + k, M + k)

    weight = jnp.where(graph.edge_mask, graph.edge_weight, 0.0)  # padding edges: all zero
    alpha_axis = None if alpha is None else 0

    def edge_parts(p, a, w, lam_e, y):
        return _jacobian_and_weighted_hessian(lambda b: model._edge_message(p, a, w, b), lam_e, y)

    jac_e, hess_e = jax.vmap(edge_parts, (0, alpha_axis, 0, 0, 0))(
        edge_prep, alpha, weight, lam[graph.receivers], edge_y
    )
    jac_s, hess_s = jax.vmap(
        lambda p, lam_i, y: _jacobian_and_weighted_hessian(
            lambda b: model.self_message.convex_part(p, b), lam_i, y
        )
    )(self_prep, lam, self_y)

    jac_own, jac_view = _own_and_view(jac_e, k, node_wise)
    self_own = jac_s if node_wise else sum(_own_and_view(jac_s, k, False))
    q_oo, q_ov, q_vo, q_vv = _quarters(hess_e, k, node_wise)
    self_total = hess_s if node_wise else _fold(hess_s, k)
    own = jax.ops.segment_sum(q_oo, graph.receivers, num_segments=n) + self_total
    return _Terms(
        jac_view=jac_view,
        q_ov=q_ov,
        q_vo=q_vo,
        q_vv=q_vv,
        jac_own=jax.ops.segment_sum(jac_own, graph.receivers, num_segments=n) + self_own,
        curvature=curvature,
        own=own + model.beta * jnp.eye(k, dtype=h.dtype),
    )


def _group_hessians(terms: _Terms, graph: Graph, slots: ReceiverSlots, group: NodeGroup):
    """(capacity, w, w, k, k): the local Hessians of ``group``'s nodes in their first w =
    ``group.width`` slots (exact for nodes of in-degree below w; edges into other nodes or
    past slot w − 1 are dropped)."""
    nodes, width = group.nodes, group.width
    capacity, (size, k) = nodes.shape[0], terms.jac_own.shape[1:]
    row, slot = group.inverse[graph.receivers], slots.rank + 1

    # D: (capacity, slots, M + k, k), ∂z_i/∂(slot r) — m rows from the messages, h rows I.
    d_m = jnp.zeros((capacity, width, size, k), terms.jac_own.dtype)
    d_m = d_m.at[:, 0].set(terms.jac_own[nodes])
    d_m = d_m.at[row, slot].add(terms.jac_view, mode="drop")
    d_h = jnp.zeros((capacity, width, k, k), d_m.dtype).at[:, 0].set(jnp.eye(k, dtype=d_m.dtype))
    d = jnp.concatenate([d_m, d_h], 2)
    hess = jnp.einsum("nrpa,npq,nsqb->nrsab", d, terms.curvature[nodes], d)

    # The messages' own curvature, weighted by λ_i, on the slots each edge touches.
    hess = hess.at[:, 0, 0].add(terms.own[nodes])
    hess = hess.at[row, 0, slot].add(terms.q_ov, mode="drop")
    hess = hess.at[row, slot, 0].add(terms.q_vo, mode="drop")
    return hess.at[row, slot, slot].add(terms.q_vv, mode="drop")


def energy_local_hessians(model, graph: Graph, h, h_view, slots: ReceiverSlots, prepared):
    """(nodes, 1 + d, 1 + d, k, k): block [r, s] of node j's Hessian ∂²e_j/∂z_r∂z_s, as
    `AbstractEnergyGNN.local_hessians` returns it, by the chain rule of the module docstring."""
    everyone = NodeGroup.everyone(h.shape[0], slots.degree + 1)
    return _group_hessians(_terms(model, graph, h, h_view, prepared), graph, slots, everyone)


def energy_grouped_local_hessians(model, graph, h, h_view, slots, groups, prepared):
    """`energy_local_hessians` for each `NodeGroup` of ``groups``, in its own width: the
    per-edge and per-node terms once, the (w · k)² products per node of each group."""
    terms = _terms(model, graph, h, h_view, prepared)
    return [_group_hessians(terms, graph, slots, group) for group in groups]


def _quarters(matrix, k: int, node_wise: bool):
    """An edge's y × y Hessian as its (own, own), (own, view), (view, own), (view, view)
    k × k blocks, own meaning h_i and view v_e (node-wise messages see no h_i)."""
    if node_wise:
        zero = jnp.zeros_like(matrix)
        return zero, zero, zero, matrix
    return matrix[..., :k, :k], matrix[..., :k, k:], matrix[..., k:, :k], matrix[..., k:, k:]


def _fold(matrix, k: int):
    """The Hessian in h_i of a function of y = (h_i, h_i): the sum of its four k × k blocks."""
    return sum(_quarters(matrix, k, False))
