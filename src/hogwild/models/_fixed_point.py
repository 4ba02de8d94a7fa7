"""Fixed-point GNNs: H* = F_θ(G, H*) with F a contraction (Section 3, Appendix A)."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ..graph import Graph
from ..nn import MLP
from ._adjacency import LAMBDA_MAX, RenormalisedAdjacency
from ._base import AbstractGNN, Readout


class AbstractFixedPointGNN(AbstractGNN):
    """Fixed-point GNN: the local rule is the node update h_i ← F_i(h_i, views).

    ``update(graph, h, h_view)`` applies every node's update at once, node i reading its
    neighbour j from ``h_view[e]`` for e = (j -> i); the synchronous map is
    ``fixed_point_map(graph, h) = update(graph, h, H[senders])``. Implementations keep F a
    contraction by construction; `constrain` restores that after an optimiser step.
    """

    family: ClassVar[str] = "fixed-point"

    @abc.abstractmethod
    def update(self, graph: Graph, h, h_view, prepared=None) -> Float[Array, "nodes hidden"]:
        """F applied at every node from its own state and its views of its neighbours."""

    def prepare(self, graph: Graph):
        """The H-independent part of F, computed once per solve (None: nothing)."""
        del graph

    def fixed_point_map(self, graph: Graph, h, prepared=None) -> Float[Array, "nodes hidden"]:
        """F(G, H) with current views: the synchronous iteration H ← F(G, H)."""
        return self.update(graph, h, h[graph.senders], prepared)


def project_rows_to_l1_ball(matrix: Float[Array, "rows cols"], radius: float) -> Array:
    """Euclidean projection of every row onto {v : ‖v‖₁ <= radius}.

    The rows are independent, so this is the projection onto the induced-∞-norm ball
    {W : ‖W‖_∞ = max_a Σ_b |W_ab| <= radius}. Sort-based (Duchi et al., 2008):
    w = sign(v) max(|v| − τ, 0) with τ the threshold that makes ‖w‖₁ = radius.
    """

    def project(v):
        a = jnp.abs(v)
        u = jnp.sort(a)[::-1]
        css = jnp.cumsum(u)
        k = jnp.arange(1, v.size + 1, dtype=v.dtype)
        active = u - (css - radius) / k > 0
        rho = jnp.max(jnp.where(active, jnp.arange(v.size), 0))
        tau = (css[rho] - radius) / (rho + 1)
        shrunk = jnp.sign(v) * jnp.maximum(a - tau, 0.0)
        return jnp.where(jnp.sum(a) <= radius, v, shrunk)

    return jax.vmap(project)(matrix)


def _positive_output(encoder: MLP) -> MLP:
    """g_θ with every last-layer bias raised to b_a = |b_a| + ‖W_a‖₁, so that g_θ(x) > 0 for
    every input x at initialisation: the last layer reads tanh activations, |tanh| < 1, so
    W_a · tanh(·) > −‖W_a‖₁. (With no hidden layer the bound does not hold for all x.)"""
    last = encoder.layers[-1]
    bias = jnp.abs(last.bias) + jnp.sum(jnp.abs(last.weight), axis=1)
    return eqx.tree_at(lambda e: e.layers[-1].bias, encoder, bias)


class IGNN(AbstractFixedPointGNN):
    """Implicit GNN of Gu et al. (2020), Eq. 21.

    h_i ← φ( Σ_{j ∈ N(i) ∪ {i}} Ã_ij θ_m h_j + (1 − κ) g_θ(x_i) ),  φ = ReLU,

    with g_θ an MLP (16, 16, 16, k) and ‖θ_m‖_∞ <= κ / λ_max(Ã) = κ < 1. Then F is a
    κ-contraction in the weighted block-max norm ‖H‖_w = max_i ‖h_i‖_∞ / sqrt(d̃_i)
    (because Σ_j Ã_ij sqrt(d̃_j) = sqrt(d̃_i) and ReLU is non-expansive per component),
    which is what asynchronous iterations need to converge (Bertsekas & Tsitsiklis, 1989).

    Scale and initialisation keep training from stalling at H* = 0 or at a saturated
    readout. Issue 10: at hidden size 2 the loss sat at exactly log 2 on chains and on
    MNIST terrain, and θ_m and g_θ got zero gradient from about epoch 10 on.

    - g_θ starts positive for every input (`_positive_output`), and θ_m >= 0, so at
      initialisation every pre-activation is positive. No ReLU unit is 0 anywhere, F is
      linear there, and every parameter gets a gradient. Before, one of the two units was
      0 at every node of both tasks from the start (seed 0). Nodes with equal inputs (all
      but the head of a chain) share one pre-activation, so a unit dies at all of them at
      once. Within ~10 Adam steps the other unit died too. Then H* = 0, and no gradient
      could revive it.
    - θ_m starts at (κ / λ_max) I. No admissible matrix carries a signal further: the
      per-hop gain is κ on every unit (compare the identity initialisation of ReLU
      recurrences, Le et al., 2015). A uniform θ_m projected onto the ball left the live
      unit a gain of ~0.5: the class signal fell from 2e-2 at a chain's head to 3e-6 five
      hops on.
    - The input term is (1 − κ) g_θ. ReLU is positively homogeneous, so this is Eq. 21
      with g_θ's last layer scaled: the same family of maps. Now ‖F(H)‖_w <= κ‖H‖_w +
      (1 − κ)‖G‖_w, so ‖H*‖_w <= ‖g_θ(X)‖_w for every admissible θ_m. Unscaled, the
      inputs are amplified up to 1 / (1 − κ) = 10 times. With only the first two changes,
      states reached 20–30 and saturated every tanh unit of the readout, and the
      gradients were 0 again.

    None of this changes the constraint: `constrain` projects θ_m onto the same κ-ball.
    """

    weight: Float[Array, "hidden hidden"]
    encoder: MLP
    readout: Readout
    hidden: int = eqx.field(static=True)
    kappa: float = eqx.field(static=True)
    in_size: int = eqx.field(static=True)
    edge_size: None = eqx.field(static=True, default=None)  # edge features are ignored

    def __init__(
        self,
        in_size: int,
        out_size: int,
        *,
        hidden: int = 2,
        encoder_sizes=(16, 16, 16),
        kappa: float = 0.9,
        graph_level: bool = False,
        key: PRNGKeyArray,
    ):
        if not 0 < kappa < 1:
            raise ValueError(f"IGNN needs 0 < kappa < 1 for a contraction; got {kappa}.")
        ekey, rkey = jr.split(key)
        self.weight = (kappa / LAMBDA_MAX) * jnp.eye(hidden)
        self.encoder = _positive_output(MLP(in_size, (*encoder_sizes, hidden), key=ekey))
        self.readout = Readout(hidden, out_size, graph_level=graph_level, key=rkey)
        self.hidden, self.kappa = hidden, float(kappa)
        self.in_size = in_size

    def prepare(self, graph: Graph):
        """Ã and the input term (1 − κ) g_θ(X), neither of which depends on H."""
        injected = (1.0 - self.kappa) * jax.vmap(self.encoder)(graph.nodes)
        return RenormalisedAdjacency.of(graph), injected

    def update(self, graph: Graph, h, h_view, prepared=None):
        adjacency, injected = self.prepare(graph) if prepared is None else prepared
        messages = adjacency.aggregate(graph, h, h_view) @ self.weight.T
        return jax.nn.relu(messages + injected)

    def constrain(self) -> IGNN:
        """Project θ_m back onto ‖θ_m‖_∞ <= κ / λ_max(Ã) (after every optimiser step)."""
        radius = self.kappa / LAMBDA_MAX
        return eqx.tree_at(lambda m: m.weight, self, project_rows_to_l1_ball(self.weight, radius))
