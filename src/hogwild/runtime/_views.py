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
    """Newest (h_j, g_ji) per edge of the current graph, keyed by the node pair (j, i).

    Attributes:
        h: (edges, k) the newest h_j per edge j → i (zeros until a packet arrives).
        g: (edges, w) the packet g_ji that came with it (w = 0 outside energies).
        incarnation, counter: (edges,) int64 stamp of what is held (−1: nothing yet).
        accepted, ignored: packets kept / ignored as stale or duplicate so far.
    """

    def __init__(self, senders, receivers, width: int, packet_width: int, dtype):
        self.index = {(int(j), int(i)): e for e, (j, i) in enumerate(zip(senders, receivers))}
        m = len(self.index)
        self.h = np.zeros((m, width), dtype)
        self.g = np.zeros((m, packet_width), dtype)
        self.incarnation = np.full(m, -1, np.int64)
        self.counter = np.full(m, -1, np.int64)
        self.accepted = self.ignored = 0

    def rekeyed(self, senders, receivers) -> EdgeViews:
        """The same knowledge on a changed edge list: kept for edges that remain, empty
        for new ones (the graph changed while running)."""
        new = EdgeViews(senders, receivers, self.h.shape[1], self.g.shape[1], self.h.dtype)
        for pair, e in new.index.items():
            old = self.index.get(pair)
            if old is not None:
                new.h[e], new.g[e] = self.h[old], self.g[old]
                new.incarnation[e], new.counter[e] = self.incarnation[old], self.counter[old]
        new.accepted, new.ignored = self.accepted, self.ignored
        return new

    def accept(self, pairs, incarnation, counter, h, g) -> int:
        """Keep each packet (pair (j, i), stamp, h_j, g_ji) that is newer than what its
        edge holds; returns how many were kept. Packets for edges the current graph does
        not have (a link that was just removed) are ignored."""
        rows = np.array([self.index.get((int(j), int(i)), -1) for j, i in pairs], np.int64)
        known = rows >= 0
        held_inc = np.where(known, self.incarnation[rows], np.iinfo(np.int64).max)
        held_cnt = np.where(known, self.counter[rows], 0)
        newer = known & (
            (incarnation > held_inc) | ((incarnation == held_inc) & (counter > held_cnt))
        )
        newer = _last_of_each_row(rows, newer, incarnation, counter)
        take = rows[newer]
        self.h[take], self.g[take] = h[newer], g[newer]
        self.incarnation[take], self.counter[take] = incarnation[newer], counter[newer]
        kept = int(newer.sum())
        self.accepted += kept
        self.ignored += len(rows) - kept
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
