"""What a shard knows of its neighbours: the newest packet per incoming edge.

A packet on edge j → i carries h_j and, for energies, g_ji = ∂e_j/∂h_i (Eq. 13: j's
energy's gradient with respect to its view of h_i, computed by j). It is stamped by its
sender with (incarnation, counter): the sender's start time in ns, which a restart after a
crash increases, and its tick count. A packet is kept only if its stamp is newer than the
one held for its edge (lexicographically), so late, reordered and duplicated packets are
ignored and counted, and a restarted sender is heard again at once.
"""

from __future__ import annotations

import numpy as np


class EdgeViews:
    """Newest (h_j, g_ji) per edge of the current graph.

    Every shard holds the same edge list, so packets name their edge by its index; the
    list's ``version`` (how many times the graph changed) travels with them, and a packet
    sent for another version is ignored (it was in flight while the graph changed).

    Attributes:
        h: (edges, k) the newest h_j per edge j → i (zeros until a packet arrives).
        g: (edges, w) the packet g_ji that came with it (w = 0 outside energies).
        incarnation, counter: (edges,) int64 stamp of what is held (−1: nothing yet).
        accepted, ignored: packets kept / ignored as stale or duplicate so far.
    """

    def __init__(self, senders, receivers, width: int, packet_width: int, dtype, version=0):
        self.pairs = list(zip(np.asarray(senders).tolist(), np.asarray(receivers).tolist()))
        self.version = version
        m = len(self.pairs)
        self.h = np.zeros((m, width), dtype)
        self.g = np.zeros((m, packet_width), dtype)
        self.incarnation = np.full(m, -1, np.int64)
        self.counter = np.full(m, -1, np.int64)
        self.accepted = self.ignored = 0

    def rekeyed(self, senders, receivers, version: int) -> EdgeViews:
        """The same knowledge on a changed edge list: kept for edges that remain, empty
        for new ones (the graph changed while running)."""
        shape = (self.h.shape[1], self.g.shape[1], self.h.dtype, version)
        new = EdgeViews(senders, receivers, *shape)
        index = {pair: e for e, pair in enumerate(self.pairs)}
        for e, pair in enumerate(new.pairs):
            old = index.get(pair)
            if old is not None:
                new.h[e], new.g[e] = self.h[old], self.g[old]
                new.incarnation[e], new.counter[e] = self.incarnation[old], self.counter[old]
        new.accepted, new.ignored = self.accepted, self.ignored
        return new

    def accept(self, version, edges, incarnation, counter, h, g) -> int:
        """Keep each packet (edge index, stamp, h_j, g_ji) that is newer than what its
        edge holds; returns how many were kept. Packets of another ``version`` of the edge
        list (sent before the graph changed) are ignored."""
        edges = np.asarray(edges, np.int64)
        if version != self.version:
            self.ignored += len(edges)
            return 0
        held_inc, held_cnt = self.incarnation[edges], self.counter[edges]
        newer = (incarnation > held_inc) | ((incarnation == held_inc) & (counter > held_cnt))
        newer = _last_of_each_row(edges, newer, incarnation, counter)
        take = edges[newer]
        self.h[take], self.g[take] = h[newer], g[newer]
        self.incarnation[take], self.counter[take] = incarnation[newer], counter[newer]
        kept = int(newer.sum())
        self.accepted += kept
        self.ignored += len(edges) - kept
        return kept


def _last_of_each_row(rows, newer, incarnation, counter):
    """``newer`` with, among entries of one batch that target the same edge, only the one
    with the newest stamp left True (a batch may hold a packet and its duplicate)."""
    if len(np.unique(rows[newer])) == int(newer.sum()):
        return newer
    order = np.lexsort((counter, incarnation, rows))
    keep = newer.copy()
    for a, b in zip(order[:-1], order[1:]):
        if rows[a] == rows[b]:
            keep[a] = False
    return keep
