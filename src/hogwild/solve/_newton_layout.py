"""Where Newton's Hessian entries go: graphs padded to size buckets, nodes in degree groups.

A batch's ∇²E is block diagonal, one block per graph. Padding every block to the largest
graph costs G (k · max)² memory and G (k · max)³ / 3 flops per factorisation, and taking
every node's local Hessian in 1 + d slots (d the largest in-degree) costs N (1 + d)² k²:
on PROTEINS (graphs of 4 to 620 nodes, median 26; in-degrees up to 25, all but 57 of
43,471 nodes at most 8) that is 3 × 1,024 × 1240² floats of blocks and 26² slot pairs per
node. Instead

- each graph's block is padded to its **size bucket** (`plan_buckets`: sizes in 1.25×
  steps, at most `MAX_BUCKETS` of them, each with a capacity: how many graphs of the
  dataset it holds), one Cholesky factorisation per bucket;
- each node's local Hessian is taken in the slots its own in-degree needs (`plan_groups`:
  the first group is every node, in the narrowest width that pays; the few wider nodes
  are taken again, in their own width, and only there).

Nothing is approximated: with every graph and node in a bucket and group that holds it,
the blocks are the exact per-graph Hessians. Capacities are counted on every graph a
solver is sized for (`Newton.for_graphs`), so any batch of those graphs fits. A batch of
other graphs may not: a graph past its bucket's capacity keeps only its nodes' own blocks
(a block-Jacobi step) and a node past its group's capacity or bound loses the coupling
terms past the first group's width, which leaves
the blocks positive definite (principal parts of convex terms, βI kept), so each step
still descends and convergence is still decided on ‖∇E‖: such a solve is slower, never
wrong.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..graph import Graph, bucket
from ..models._base import NodeGroup, ReceiverSlots

#: The most graph-size buckets and degree groups a plan keeps (each is one more
#: factorisation, resp. local Hessian product, in the compiled program).
MAX_BUCKETS = 8
MAX_GROUPS = 4


def _merge(bounds: list, counts: list, cost, limit: int, overhead: float = 0) -> tuple:
    """Merge adjacent (bound, count) classes, each time the pair whose merge into the
    larger bound costs least (``cost(bound, count)``), while more than ``limit`` remain
    or a merge costs less than the ``overhead`` of one class."""
    bounds, counts = list(bounds), list(counts)
    while len(bounds) > 1:
        extra = [
            cost(bounds[i + 1], counts[i]) - cost(bounds[i], counts[i])
            for i in range(len(bounds) - 1)
        ]
        i = int(np.argmin(extra))
        if len(bounds) <= limit and extra[i] >= overhead:
            break
        counts[i + 1] += counts[i]
        del bounds[i], counts[i]
    return bounds, counts


def plan_buckets(sizes) -> tuple[tuple[int, int], ...]:
    """(size, capacity) per bucket for graphs of node counts ``sizes``: each graph in the
    smallest 1.25×-step size that holds it (`hogwild.graph.bucket`, never above the
    largest graph), merged down to `MAX_BUCKETS` at the least extra factorisation cost
    (count × size³); capacity: how many of the graphs fall in it."""
    sizes = np.asarray(sizes, int)
    largest = int(sizes.max())
    bounds, counts = np.unique(
        [min(bucket(int(n), minimum=1), largest) for n in sizes], return_counts=True
    )
    bounds, counts = _merge(
        [int(b) for b in bounds], [int(c) for c in counts], lambda b, c: c * b**3, MAX_BUCKETS
    )
    return tuple(zip(bounds, counts))


def _slot_pairs(bound: int, count: int) -> int:
    """Slot pairs of ``count`` local Hessians of in-degree bound ``bound``."""
    return count * (1 + bound) ** 2


def plan_groups(degrees) -> tuple[tuple[int, int], ...]:
    """(in-degree bound, capacity) per node group for nodes of in-degrees ``degrees``:
    the first group is every node (capacity 0: the batch's node count) in 1 + its bound
    slots, each further group the nodes of larger in-degree up to its bound. Bounds are
    powers of two (and the largest degree), at most `MAX_GROUPS`, chosen for the least
    cost in k × k blocks: Σ capacity × (1 + bound)² slot pairs, plus four per edge and
    group (each group scatters every edge's terms, `_energy_hessian`)."""
    degrees = np.asarray(degrees, int)
    largest = int(degrees.max()) if degrees.size else 0
    overhead = 4 * int(degrees.sum())
    candidates = sorted({min(2**j, largest) for j in range(largest.bit_length() + 1)})
    best = None
    for first in candidates:
        wider = [b for b in candidates if b > first]
        lower = [first, *wider[:-1]]
        counts = [int(np.sum((degrees > lo) & (degrees <= hi))) for lo, hi in zip(lower, wider)]
        kept = [(b, c) for b, c in zip(wider, counts) if c]
        bounds, counts = _merge(
            [b for b, _ in kept], [c for _, c in kept], _slot_pairs, MAX_GROUPS - 1, overhead
        )
        groups = ((first, degrees.size), *zip(bounds, counts))
        cost = sum(_slot_pairs(b, c) + overhead for b, c in groups)
        if best is None or cost < best[0]:
            best = (cost, ((first, 0), *groups[1:]))
    return tuple(best[1])


def plan_counts(plan: tuple, values) -> np.ndarray:
    """How many of ``values`` (graph sizes or in-degrees) fall under each bound of
    ``plan`` ((bound, capacity), …; each value in the first bound that holds it), and
    last, how many under none."""
    bounds = np.array([b for b, _ in plan])
    return np.bincount(np.searchsorted(bounds, values), minlength=len(bounds) + 1)


def fitted_plan(plan: tuple, values: list, keep_first: bool = False) -> tuple:
    """``plan`` ((bound, capacity), …: `plan_buckets` or `plan_groups`) with each capacity
    the most values (graph sizes, resp. in-degrees) any one array of ``values`` (one per
    batch) puts under that bound (`plan_counts`), and the bounds no batch uses dropped
    (a value's first holding bound is then unchanged). ``keep_first``: the first class is
    kept as it is (`plan_groups`' every-node group)."""
    counts = np.max([plan_counts(plan, v) for v in values], axis=0)
    fitted = [(int(b), int(c)) for (b, _), c in zip(plan, counts)]
    first = [plan[0]] if keep_first else []
    return (*first, *((b, c) for b, c in fitted[len(first) :] if c))


def joined_plan(plans: list, first_group: bool = False) -> tuple:
    """Every bound of ``plans`` once, capacities 0 (for `fitted_plan` to count);
    ``first_group``: degree groups, whose first is (the smallest first bound, 0) and whose
    other bounds lie above it."""
    if not first_group:
        return tuple((b, 0) for b in sorted({b for plan in plans for b, _ in plan}))
    first = min(plan[0][0] for plan in plans)
    wider = sorted({b for plan in plans for b, _ in plan[1:] if b > first})
    return ((first, 0), *((b, 0) for b in wider))


def _positions(graph: Graph):
    """(which, position): the graph of each real node (num_graphs for padding nodes) and
    its index inside that graph."""
    offset = jnp.cumsum(graph.n_node) - graph.n_node
    which = jnp.where(graph.node_mask, graph.node_graph, graph.num_graphs)
    position = jnp.where(graph.node_mask, jnp.arange(graph.num_nodes) - offset[graph.node_graph], 0)
    return which, position


def _entries(graph: Graph, sizes: np.ndarray, capacities: tuple):
    """(bucket, entry): each graph's size bucket (len(sizes) when it has no nodes or none
    holds it) and its index among that bucket's graphs (past the capacity: not held)."""
    count = len(sizes)
    which = jnp.searchsorted(jnp.asarray(sizes), graph.n_node, side="left")
    which = jnp.where(graph.n_node > 0, which, count)
    rank = jnp.cumsum(which[:, None] == jnp.arange(count)[None], axis=0) - 1
    entry = rank[jnp.arange(graph.num_graphs), jnp.minimum(which, count - 1)]
    held = (which < count) & (entry < jnp.asarray(capacities + (0,))[which])
    return jnp.where(held, which, count), jnp.where(held, entry, 0)


class Layout(eqx.Module):
    """Where a batch's local Hessian entries go, computed once per solve (it depends on the
    graph only): receiver slots, node groups and, per group, every (node, slot, slot)
    entry's flat index into the buckets' blocks (past the end: dropped); each graph's
    bucket and entry, each real node's graph and position in it."""

    slots: ReceiverSlots
    groups: list
    targets: list
    graph_bucket: jax.Array
    graph_entry: jax.Array
    which: jax.Array
    position: jax.Array
    sizes: tuple = eqx.field(static=True)
    capacities: tuple = eqx.field(static=True)

    @classmethod
    def of(cls, graph: Graph, buckets: tuple, groups: tuple) -> Layout:
        """For ``buckets`` ((size, capacity), … `plan_buckets`) and ``groups`` ((in-degree
        bound, capacity), … `plan_groups`), capacities capped at the batch's graph and
        node counts."""
        num_graphs = graph.num_graphs
        sizes = tuple(int(s) for s, _ in buckets)
        capacities = tuple(min(int(c), num_graphs) for _, c in buckets)
        bucket_of, entry = _entries(graph, np.asarray(sizes), capacities)
        slots = ReceiverSlots.traced(graph, max(b for b, _ in groups))
        which, position = _positions(graph)
        layout = cls(slots, [], [], bucket_of, entry, which, position, sizes, capacities)
        node_groups = layout._node_groups(graph, groups)
        targets = [layout._targets(graph, group, member) for group, member in node_groups]
        return eqx.tree_at(
            lambda x: (x.groups, x.targets), layout, ([g for g, _ in node_groups], targets)
        )

    @property
    def total(self) -> int:
        """Block entries (k × k each) over every bucket."""
        return sum(c * s * s for s, c in zip(self.sizes, self.capacities))

    @property
    def offsets(self) -> np.ndarray:
        return np.cumsum([0] + [c * s * s for s, c in zip(self.sizes, self.capacities)])[:-1]

    def _node_groups(self, graph: Graph, groups: tuple) -> list:
        """(NodeGroup, which of its entries it owns) per group: the others take the nodes
        of their degree range (at most their capacity), the first is every node, in
        order, and owns those no other group took (in its width, a principal part of a
        wider node's Hessian: the coupling past it is lost, nothing else)."""
        n = graph.num_nodes
        degree = jax.ops.segment_sum(graph.edge_mask.astype(jnp.int32), graph.receivers, n)
        bounds = jnp.asarray([b for b, _ in groups])
        group_of = jnp.searchsorted(bounds, degree, side="left")
        out, taken = [], jnp.zeros(n, bool)
        for c, (bound, capacity) in enumerate(groups[1:], start=1):
            capacity = min(int(capacity), n)
            group = NodeGroup.where(group_of == c, capacity, bound + 1)
            out.append((group, jnp.arange(capacity) < jnp.sum(group_of == c)))
            taken = taken | (group.inverse < capacity)
        return [(NodeGroup.everyone(n, groups[0][0] + 1), ~taken), *out]

    def _targets(self, graph: Graph, group: NodeGroup, owned):
        """Flat block index of every (node, slot, slot) entry of ``group`` (its first
        ``group.width`` slots), ``total`` where the entry is not assembled."""
        nodes, width = group.nodes, group.width
        home = jnp.minimum(self.which[nodes], graph.num_graphs - 1)  # padding: masked
        held = graph.node_mask[nodes] & owned & (self.graph_bucket[home] < len(self.sizes))
        b = jnp.minimum(self.graph_bucket[home], len(self.sizes) - 1)
        size = jnp.asarray(self.sizes)[b]
        base = jnp.asarray(self.offsets)[b] + self.graph_entry[home] * size * size
        valid = self.slots.valid[nodes, :width] & held[:, None]
        slot_position = self.position[self.slots.node[nodes, :width]]
        flat = base[:, None, None] + slot_position[:, :, None] * size[:, None, None]
        flat = flat + slot_position[:, None, :]
        pair = valid[:, :, None] & valid[:, None, :]
        return jnp.where(pair, flat, self.total).ravel()

    def node_entry(self, graph: Graph, b: int):
        """Each node's entry in bucket ``b`` (its capacity where the node is not there)."""
        home = jnp.minimum(self.which, graph.num_graphs - 1)
        inside = graph.node_mask & (self.graph_bucket[home] == b)
        return jnp.where(inside, self.graph_entry[home], self.capacities[b])

    def filled(self, graph: Graph, b: int):
        """(capacity,) the node count of the graph at each entry of bucket ``b`` (0: empty)."""
        entry = jnp.where(self.graph_bucket == b, self.graph_entry, self.capacities[b])
        return jnp.zeros(self.capacities[b], jnp.int32).at[entry].set(graph.n_node, mode="drop")

    def assemble(self, local: list, k: int) -> list:
        """The blocks of every bucket, (capacity, size · k, size · k), from the groups'
        local Hessians ``local`` (capacity, w, w, k, k): one segment sum over one flat
        index (twice as fast as a scatter over three, MNIST terrain, session 37)."""
        values = jnp.concatenate([x.reshape(-1, k, k) for x in local])
        flat = jax.ops.segment_sum(values, jnp.concatenate(self.targets), self.total + 1)
        blocks = []
        for start, size, capacity in zip(self.offsets, self.sizes, self.capacities):
            part = flat[start : start + capacity * size * size]
            part = part.reshape(capacity, size, size, k, k).transpose(0, 1, 3, 2, 4)
            blocks.append(part.reshape(capacity, size * k, size * k))
        return blocks


class Blocks:
    """The per-graph dense Hessians of one energy at one point, factorised bucket by
    bucket, with the maps between node-state arrays (nodes, k) and the buckets' vectors."""

    def __init__(self, model, graph: Graph, h, layout: Layout, prepared):
        k = h.shape[1]
        self.graph, self.layout, self.k = graph, layout, k
        local = model.grouped_local_hessians(
            graph, h, h[graph.senders], layout.slots, layout.groups, prepared
        )
        # Every node's own block (the first group is every node, in order): a padding
        # node, or a node whose graph no bucket holds, is solved by it alone.
        self.own_factor = jnp.linalg.cholesky(local[0][:, 0, 0])
        self.factors = []
        for b, block in enumerate(layout.assemble(local, k)):
            size = layout.sizes[b]
            real = jnp.repeat(jnp.arange(size)[None] < layout.filled(graph, b)[:, None], k, axis=1)
            eye = jnp.eye(size * k, dtype=h.dtype)
            pad = real[:, :, None] & real[:, None, :]
            self.factors.append(jnp.linalg.cholesky(jnp.where(pad, block, eye)))

    @property
    def arrays(self) -> tuple:
        """The factors: every node's own block's, then each bucket's (`from_arrays`)."""
        return self.own_factor, tuple(self.factors)

    @classmethod
    def from_arrays(cls, graph: Graph, layout: Layout, arrays: tuple) -> Blocks:
        """The blocks whose factors ``arrays`` (`arrays`) an earlier factorisation left."""
        blocks = cls.__new__(cls)
        blocks.graph, blocks.layout, blocks.k = graph, layout, arrays[0].shape[-1]
        blocks.own_factor, blocks.factors = arrays[0], list(arrays[1])
        return blocks

    def solve(self, v):
        """(∇²E)⁻¹ v, bucket by bucket (nodes outside every bucket by their own block)."""
        g, layout, k = self.graph, self.layout, self.k
        x = jax.scipy.linalg.cho_solve((self.own_factor, True), v[..., None])[..., 0]
        for b, factor in enumerate(self.factors):
            size, capacity = layout.sizes[b], layout.capacities[b]
            entry = layout.node_entry(g, b)
            per_graph = jnp.zeros((capacity, size, k), v.dtype)
            per_graph = per_graph.at[entry, layout.position].set(v, mode="drop")
            solved = jax.scipy.linalg.cho_solve((factor, True), per_graph.reshape(-1, size * k, 1))
            mine = solved.reshape(-1, size, k)[jnp.minimum(entry, capacity - 1), layout.position]
            x = jnp.where((entry < capacity)[:, None], mine, x)
        return x
