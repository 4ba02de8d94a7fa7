"""The coupling matrix M̃ of the certificate, held in degree groups instead of padded slots.

M̃_il = Σ_k ‖∂²e_k/∂z_i∂z_l‖₂ (`_certificate`) needs, for every node k, the norms of its
energy's Hessian blocks over pairs of its 1 + d_k slots. Padded to the largest in-degree d
that is n (1 + d)² blocks: on a graph with hubs (PPI's test split: 5,524 nodes; a
scale-free graph of its mean degree 28 has hubs of degree ~380) about 8 · 10⁸ blocks of
k × k, tens of GB. Here the nodes are split into disjoint groups of in-degree ranges
(`degree_groups`, the bounds of Newton's `plan_groups`), each group's Hessians taken in
its own width (`grouped_local_hessians`): Σ_g c_g (1 + b_g)² blocks, close to
Σ_k (1 + d_k)² (~10⁷ there). Every product with M̃ is a sum over the groups.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..graph import Graph
from ..models._base import NodeGroup, ReceiverSlots, diagonal_blocks
from ..solve._newton_layout import plan_groups


def degree_groups(slots: ReceiverSlots) -> tuple[NodeGroup, ...]:
    """Every node exactly once (host-side): the nodes of in-degree in (b_{g−1}, b_g] in a
    group of width 1 + b_g, the bounds b_g those `plan_groups` picks for these degrees."""
    valid = np.asarray(slots.valid)
    degrees = valid[:, 1:].sum(axis=1)
    n = len(degrees)
    bounds = [b for b, _ in plan_groups(degrees)]
    group_of = np.searchsorted(bounds, degrees, side="left")
    groups = []
    for g, bound in enumerate(bounds):
        members = np.flatnonzero(group_of == g)
        if members.size:
            inverse = np.full(n, members.size)
            inverse[members] = np.arange(members.size)
            groups.append(NodeGroup(jnp.asarray(members), jnp.asarray(inverse), bound + 1))
    return tuple(groups)


class Coupling(eqx.Module):
    """Non-negative node-local blocks ``blocks[g]`` (c_g, w_g, w_g) of group g: entry
    [j, r, s] couples the nodes in slots r and s of the group's j-th node (``slot_nodes``
    (c_g, w_g)); zero on unused slots. ``real`` (nodes,): the nodes that are not padding."""

    blocks: tuple
    slot_nodes: tuple
    real: jax.Array

    def matvec(self, x):
        """(M̃x)_i = Σ_k Σ_{r: node(k, r) = i} Σ_s blocks[k, r, s] x_{node(k, s)}."""
        out = jnp.zeros_like(x)
        for blocks, nodes in zip(self.blocks, self.slot_nodes):
            y = jnp.einsum("krs,ks->kr", blocks, x[nodes])
            out = out + jax.ops.segment_sum(y.ravel(), nodes.ravel(), num_segments=x.shape[0])
        return out

    def map(self, f) -> Coupling:
        """The coupling with ``f(blocks)`` in place of each group's blocks."""
        return Coupling(tuple(f(b) for b in self.blocks), self.slot_nodes, self.real)

    def maximum(self, other: Coupling) -> Coupling:
        """Entrywise max with ``other`` (the same groups)."""
        pairs = zip(self.blocks, other.blocks)
        return Coupling(tuple(jnp.maximum(a, b) for a, b in pairs), self.slot_nodes, self.real)

    @property
    def dtype(self):
        return self.blocks[0].dtype


def local_blocks(model, graph: Graph, h, slots: ReceiverSlots, groups, prepared=None):
    """(Coupling of ‖∂²e_k/∂z_r∂z_s‖₂, the smallest and largest eigenvalue of each node's
    own block A_k = ∂²e_k/∂h_k² (nodes,), and of each node's diagonal block
    P_i = ∂²E/∂h_i² (nodes, 2): the block-Jacobi scaling), at states ``h``."""
    hessians = model.grouped_local_hessians(graph, h, h[graph.senders], slots, groups, prepared)
    blocks, slot_nodes = [], []
    for group, hess in zip(groups, hessians):
        valid = slots.valid[group.nodes, : group.width]
        norms = jnp.linalg.norm(hess, ord=2, axis=(-2, -1))
        blocks.append(jnp.where(valid[:, :, None] & valid[:, None, :], norms, 0.0))
        slot_nodes.append(slots.node[group.nodes, : group.width])
    own, packets = diagonal_blocks(graph, slots, groups, hessians)
    own_eig = jnp.linalg.eigvalsh(own)
    scaling = own + jax.ops.segment_sum(packets, graph.senders, num_segments=h.shape[0])
    scaled = jnp.linalg.eigvalsh(scaling)
    coupling = Coupling(tuple(blocks), tuple(slot_nodes), slots.valid[:, 0])
    return coupling, own_eig[:, 0], own_eig[:, -1], scaled[:, [0, -1]]
