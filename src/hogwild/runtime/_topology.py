"""The graph as it changes while a deployment runs: nodes leaving and joining, edges
disappearing and coming back.

Node identities never change: a node that leaves keeps its index, loses every edge and is
marked inactive (it stops updating and is not compared); when it joins again it gets back
the edges it had whose other end is active. An edge dropped stays dropped until added
again; an edge the graph never had can be added too (weight 1, zero edge features).
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
        self.added: set[frozenset] = set()
        self.data = data

    def _check_node(self, node: int) -> None:
        if not 0 <= node < self.original.num_nodes:
            raise ValueError(f"node {node} is not in the graph (0..{self.original.num_nodes - 1}).")

    def apply(self, kind: str, a: int, b: int | None = None) -> GraphData:
        """Apply one change (``leave``, ``join``, ``drop_edge``, ``add_edge``) and return
        the current graph."""
        self._check_node(a)
        if kind in ("leave", "join"):
            self.active[a] = kind == "join"
        else:
            self._check_node(b)
            self._edge(kind, a, b)
        self.data = self._current()
        self.version += 1
        return self.data

    def _edge(self, kind: str, a: int, b: int) -> None:
        pair, original = frozenset((a, b)), self._has_edge(a, b)
        if a == b:
            raise ValueError(f"an edge needs two different nodes; got {a} - {b}.")
        if kind == "drop_edge":
            if pair not in self.added and (not original or pair in self.dropped):
                raise ValueError(f"the graph has no edge {a} - {b} to drop.")
            self.added.discard(pair)
            if original:
                self.dropped.add(pair)
        elif original:
            self.dropped.discard(pair)
        else:
            self.added.add(pair)

    def _has_edge(self, a: int, b: int) -> bool:
        s, r = self.original.senders, self.original.receivers
        return bool(np.any((s == a) & (r == b)))

    def _current(self) -> GraphData:
        s, r = self.original.senders, self.original.receivers
        keep = self.active[s] & self.active[r]
        if self.dropped:
            gone = np.array([frozenset((int(j), int(i))) in self.dropped for j, i in zip(s, r)])
            keep &= ~gone
        new = [tuple(p) for p in self.added if all(self.active[list(p)])]
        extra = np.array([(a, b) for a, b in new] + [(b, a) for a, b in new], np.int64)
        extra = extra.reshape(-1, 2).astype(s.dtype)
        width = self.original.edges.shape[1]
        return dataclasses.replace(
            self.original,
            senders=np.concatenate([s[keep], extra[:, 0]]),
            receivers=np.concatenate([r[keep], extra[:, 1]]),
            edges=np.concatenate([self.original.edges[keep], np.zeros((len(extra), width),
                                  self.original.edges.dtype)]),  # fmt: skip
            edge_weight=np.concatenate([self.original.edge_weight[keep],
                                        np.ones(len(extra), self.original.edge_weight.dtype)]),
        )  # fmt: skip
