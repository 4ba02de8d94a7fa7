"""The energy GNN of Section 5 (node-wise, edge-wise, edge-wise + attention)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ..graph import Graph
from ..nn import PICNN, Linear
from ._base import AbstractEnergyGNN, Readout
from ._conditioning import curvature_rows, curvature_terms, local_scale
from ._energy_hessian import energy_grouped_local_hessians, energy_local_hessians

VARIANTS = ("node", "edge", "attention")
#: What the structured local Hessians cost, in gradients of E, whatever the degree
#: (`bench/newton_cost.py`: 6.1 on coordinates, in-degree 19; 5.4 on MNIST terrain, 9).
STRUCTURED_HESSIAN_COLUMNS = 6


def segment_softmax(scores: Float[Array, "edges heads"], segments, num_segments: int):
    """softmax of ``scores`` within each segment (the edges entering one receiver)."""
    top = jax.ops.segment_max(scores, segments, num_segments=num_segments)
    ex = jnp.exp(scores - jax.lax.stop_gradient(top)[segments])
    total = jax.ops.segment_sum(ex, segments, num_segments=num_segments)
    return ex / total[segments]


class FeatureAttention(eqx.Module):
    """Attention weights from features only (Eq. 26), one set per head.

    α^h_ij = softmax_j LeakyReLU(a_h · [W_h x_i ‖ W_h x_j ‖ V_h e_ij]); because α depends on
    no embedding, E stays convex in H.
    """

    node_proj: tuple[Linear, ...]
    edge_proj: tuple[Linear, ...]
    score: tuple[Linear, ...]

    def __init__(self, x_size: int, e_size: int, heads: int, width: int, *, key: PRNGKeyArray):
        keys = jr.split(key, 3 * heads).reshape(3, heads, -1)
        self.node_proj = tuple(Linear(x_size, width, key=k) for k in keys[0])
        self.edge_proj = tuple(Linear(e_size, width, key=k) for k in keys[1])
        self.score = tuple(Linear(3 * width, 1, key=k) for k in keys[2])

    def __call__(self, graph: Graph) -> Float[Array, "edges heads"]:
        x_i, x_j = graph.nodes[graph.receivers], graph.nodes[graph.senders]
        heads = []
        for wx, we, a in zip(self.node_proj, self.edge_proj, self.score):
            feats = jnp.concatenate(
                [jax.vmap(wx)(x_i), jax.vmap(wx)(x_j), jax.vmap(we)(graph.edges)], -1
            )
            heads.append(jax.nn.leaky_relu(jax.vmap(a)(feats)[:, 0], 0.2))
        return segment_softmax(jnp.stack(heads, -1), graph.receivers, graph.num_nodes)


class EnergyGNN(AbstractEnergyGNN):
    """Energy GNN: H* = argmin_H Σ_i e_i (Eq. 14–16).

    e_i = u(m_i, h_i, x_i; θ_u) + (β/2)‖h_i‖²,
    m_i = Σ_{j∈N(i)} A_ij α_ij m(h_i, h_j, x_i, x_j, e_ij; θ_m) + m_self(h_i, h_i, x_i, x_i, 0),
    with m a PICNN convex and nondecreasing in the embeddings and u a PICNN convex in
    (m_i, h_i) and nondecreasing in m_i, so E is β-strongly convex in H.

    Variants: ``node`` (m sees h_j, x_j only), ``edge`` (h_i, h_j, x_i, x_j, e_ij) and
    ``attention`` (edge-wise, ``heads`` heads with feature-only attention, concatenated).
    Sizes follow Appendix F.1: hidden 2, m (4, 4, 2), u (4, 4, 1), β = 0.04.
    ``in_size`` / ``edge_size``: the node / edge feature sizes it reads (``edge_size`` is
    None for the ``node`` variant, which ignores edge features).

    ``max_condition`` κ (None: unbounded) caps the condition number of ∇²E at κ for every
    parameter value, graph and H, by the parameterisation: e_i = s_i u_i + (β/2)‖h_i‖² with
    s_i = min(1, (κ − 1) β / r̄_i) in (0, 1], r̄_i a rigorous local bound on the curvature
    of u around node i (`_conditioning`, Eq. 2). s is H-independent, computed in `prepare`
    from features, weights, edge weights and attention (two-hop local, per node, so it
    does not depend on the rest of a batch) and differentiated like any parameter.

    ``condition_penalty`` κ (None: off) is the soft alternative, a training-time penalty
    on the top curvature K̂₁ at the batches' minimisers, (max(0, log(K̂₁/β) − log κ))²
    (`hogwild.train._penalty`); the energy itself is unchanged.
    """

    message: tuple[PICNN, ...]
    self_message: PICNN
    update: PICNN
    attention: FeatureAttention | None
    readout: Readout
    hidden: int = eqx.field(static=True)
    variant: str = eqx.field(static=True)
    beta: float = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    edge_size: int | None = eqx.field(static=True)
    max_condition: float | None = eqx.field(static=True)
    condition_penalty: float | None = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        edge_size: int,
        out_size: int,
        *,
        variant: str = "edge",
        hidden: int = 2,
        message_sizes=(4, 4, 2),
        update_sizes=(4, 4, 1),
        heads: int = 2,
        beta: float = 0.04,
        graph_level: bool = False,
        max_condition: float | None = None,
        condition_penalty: float | None = None,
        key: PRNGKeyArray,
    ):
        for name, value in (
            ("max_condition", max_condition),
            ("condition_penalty", condition_penalty),
        ):
            if value is not None and not value > 1.0:
                raise ValueError(f"`{name}` must be > 1 (or None); got {value!r}.")
        if variant not in VARIANTS:
            raise ValueError(f"unknown energy variant {variant!r}; valid: {', '.join(VARIANTS)}.")
        if update_sizes[-1] != 1:
            raise ValueError(f"the update PICNN must end in 1 unit; got sizes {update_sizes}.")
        keys = jr.split(key, 6)
        num_heads = heads if variant == "attention" else 1
        x_msg = in_size if variant == "node" else 2 * in_size + edge_size
        y_msg = hidden if variant == "node" else 2 * hidden
        self.message = tuple(
            PICNN(x_msg, y_msg, message_sizes, monotone=True, key=k)
            for k in jr.split(keys[0], num_heads)
        )
        msg_size = message_sizes[-1] * num_heads
        self.self_message = PICNN(
            x_msg, y_msg, (*message_sizes[:-1], msg_size), monotone=True, key=keys[1]
        )
        flags = (True,) * msg_size + (False,) * hidden
        self.update = PICNN(in_size, msg_size + hidden, update_sizes, monotone=flags, key=keys[2])
        self.attention = (
            FeatureAttention(in_size, edge_size, heads, 4, key=keys[3])
            if variant == "attention"
            else None
        )
        self.readout = Readout(hidden, out_size, graph_level=graph_level, key=keys[4])
        self.hidden, self.variant, self.beta = hidden, variant, float(beta)
        self.in_size = in_size
        self.edge_size = None if variant == "node" else edge_size  # node: x_j, h_j only
        self.max_condition = None if max_condition is None else float(max_condition)
        self.condition_penalty = None if condition_penalty is None else float(condition_penalty)

    def _message_features(self, graph: Graph):
        """Free (x) inputs of the message PICNN on every edge and on every self-loop."""
        if self.variant == "node":
            return graph.nodes[graph.senders], graph.nodes
        zeros = jnp.zeros((graph.num_nodes, graph.edges.shape[1]), graph.edges.dtype)
        edge_x = jnp.concatenate(
            [graph.nodes[graph.receivers], graph.nodes[graph.senders], graph.edges], -1
        )
        return edge_x, jnp.concatenate([graph.nodes, graph.nodes, zeros], -1)

    def _message_states(self, graph: Graph, h, h_view):
        """Convex (y) inputs of the message PICNN: (h_j) or (h_i, h_j) per edge and self-loop."""
        if self.variant == "node":
            return h_view, h
        return jnp.concatenate([h[graph.receivers], h_view], -1), jnp.concatenate([h, h], -1)

    def prepare(self, graph: Graph):
        """Everything in E that does not depend on H: PICNN gates of the features, attention
        and, with ``max_condition``, the node scales s (None otherwise).

        A solver computes this once per solve instead of at every energy evaluation.
        """
        edge_x, self_x = self._message_features(graph)
        alpha = None if self.attention is None else self.attention(graph)
        parts = (
            tuple(jax.vmap(m.prepare)(edge_x) for m in self.message),
            jax.vmap(self.self_message.prepare)(self_x),
            jax.vmap(self.update.prepare)(graph.nodes),
            alpha,
        )
        if self.max_condition is None:
            return (*parts, None)
        d, w = curvature_terms(self, graph, parts)
        return (*parts, local_scale(graph, d, w, self.beta, self.max_condition))

    def hessian_bound(self, graph: Graph, prepared=None) -> Float[Array, " graphs"]:
        """A rigorous upper bound on λ_max(∇²E) over all H, per graph of the batch:
        β + max_{n in graph} r_n (`_conditioning`, Eq. 1), with the scales s if any.
        With ``max_condition`` κ it is at most κβ; the smallest eigenvalue is always >= β."""
        prepared = self.prepare(graph) if prepared is None else prepared
        d, w = curvature_terms(self, graph, prepared[:4])
        rows = curvature_rows(graph, d, w, prepared[4])
        top = jax.ops.segment_max(rows, graph.node_graph, num_segments=graph.num_graphs)
        return self.beta + jnp.maximum(top, 0.0)

    def aggregate(self, graph: Graph, h, h_view, prepared=None) -> Float[Array, "nodes message"]:
        """m_i of Eq. 16 (with attention, Eq. 25, heads concatenated)."""
        edge_prep, self_prep, _, alpha, _ = self.prepare(graph) if prepared is None else prepared
        edge_y, self_y = self._message_states(graph, h, h_view)
        msgs = self.edge_messages(edge_prep, alpha, graph.edge_weight, edge_y)
        m = jax.ops.segment_sum(msgs, graph.receivers, num_segments=graph.num_nodes)
        return m + jax.vmap(self.self_message.convex_part)(self_prep, self_y)

    def edge_messages(self, edge_prep, alpha, weight, edge_y) -> Float[Array, "edges message"]:
        """Every edge's term of m_i, A_ij (α¹_ij m¹(y_ij), …, α^H_ij m^H(y_ij)) (Eq. 16 / 25),
        from the message PICNNs' prepared gates, the attention (None: one head, α = 1),
        the edge weights and the edges' convex inputs y (`_message_states`)."""
        alpha_axis = None if alpha is None else 0
        return jax.vmap(self._edge_message, (0, alpha_axis, 0, 0))(edge_prep, alpha, weight, edge_y)

    def _edge_message(self, edge_prep, alpha, weight, y):
        heads = [m.convex_part(p, y) for m, p in zip(self.message, edge_prep)]
        if alpha is not None:
            heads = [alpha[k] * msg for k, msg in enumerate(heads)]
        return jnp.concatenate(heads, -1) * weight

    def local_hessians(self, graph: Graph, h, h_view, slots, prepared=None):
        """`AbstractEnergyGNN.local_hessians`, from the energy's structure: per-edge message
        Jacobians and Hessians and per-node Hessians of u by the chain rule
        (`_energy_hessian`), a few small passes where the generic way takes k(1 + d)
        Hessian-vector products of the whole energy."""
        prepared = self.prepare(graph) if prepared is None else prepared
        return energy_local_hessians(self, graph, h, h_view, slots, prepared)

    def grouped_local_hessians(self, graph: Graph, h, h_view, slots, groups, prepared=None):
        """`AbstractEnergyGNN.grouped_local_hessians` from the energy's structure: the
        per-edge terms once, each group's products in its own width."""
        prepared = self.prepare(graph) if prepared is None else prepared
        return energy_grouped_local_hessians(self, graph, h, h_view, slots, groups, prepared)

    def hessian_columns(self, max_degree: int) -> int:
        """`local_hessians`' cost in gradients of E: about `STRUCTURED_HESSIAN_COLUMNS`,
        never more than the generic k(1 + d)."""
        return min(super().hessian_columns(max_degree), STRUCTURED_HESSIAN_COLUMNS)

    def node_energies(self, graph: Graph, h, h_view, prepared=None) -> Float[Array, " nodes"]:
        """e_i = s_i u(m_i, h_i, x_i) + (β/2)‖h_i‖² (Eq. 15; s_i = 1 without ``max_condition``);
        padding nodes keep only the β term."""
        prepared = self.prepare(graph) if prepared is None else prepared
        m = self.aggregate(graph, h, h_view, prepared)
        u = jax.vmap(self.update.convex_part)(prepared[2], jnp.concatenate([m, h], -1))[:, 0]
        if prepared[4] is not None:
            u = prepared[4] * u
        return jnp.where(graph.node_mask, u, 0.0) + 0.5 * self.beta * jnp.sum(h * h, -1)
