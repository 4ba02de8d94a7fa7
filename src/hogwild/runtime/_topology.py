"""The graph as it changes while a deployment runs: nodes leaving and joining, edges
disappearing and coming back.

Node identities never change: a node that leaves keeps its index, loses every edge and is
marked inactive (it stops updating and is not compared); when it joins again it gets back
the edges it had whose other end is active. An edge dropped stays dropped until restored.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..graph import GraphData


class Topology:
    """The original graph, which nodes are active and which undirected edges are dropped;
    ``version`` counts the changes (packets carry it: see `EdgeViews`)."""

    def __init__(self, data: GraphData, version: int = 0):
        self.original, self.version = data, version
        self.active = np.ones(data.num_nodes, bool)
        self.dropped: set[frozenset] = set()
        self.data = data

    def _check_node(self, node: int) -> None:
        if not 0 <= node < self.original.num_nodes:
            raise ValueError(f"node {node} is not in the graph (0..{self.original.num_nodes - 1}).")

    def apply(self, kind: str, a: int, b: int | None = None) -> GraphData:
        """Apply one change (``leave``, ``join``, ``drop_edge``, ``restore_edge``) and
        return the current graph."""
        self._check_node(a)
        if kind in ("leave", "join"):
            self.active[a] = kind == "join"
        else:
            self._check_node(b)
            pair = frozenset((a, b))
            if not self._has_edge(a, b):
                raise ValueError(f"the graph has no edge {a} - {b} to {kind.split('_')[0]}.")
            (self.dropped.add if kind == "drop_edge" else self.dropped.discard)(pair)
        self.data = self._current()
        self.version += 1
        return self.data

    def _has_edge(self, a: int, b: int) -> bool:
        s, r = self.original.senders, self.original.receivers
        return bool(np.any((s == a) & (r == b)))

    def _current(self) -> GraphData:
        s, r = self.original.senders, self.original.receivers
        keep = self.active[s] & self.active[r]
        if self.dropped:
            gone = np.array([frozenset((int(j), int(i))) in self.dropped for j, i in zip(s, r)])
            keep &= ~gone
        return dataclasses.replace(
            self.original,
            senders=s[keep],
            receivers=r[keep],
            edges=self.original.edges[keep],
            edge_weight=self.original.edge_weight[keep],
        )
