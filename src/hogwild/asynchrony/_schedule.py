"""Partially asynchronous schedules (Section 2.1, Appendix E, Algorithm 1).

Stagger S: after each update a node draws its next update time uniformly in [t+1, t+S].
Delay D: when node i updates, each of its views of a neighbour j moves to a time τ drawn
uniformly in [max(τ_old, t − D), t] (views never go back in time). A viewed value was
computed by j at most S steps before τ, so every value a node reads is at most
B = S + D steps old (Assumption 2.1 with the paper's B = 7 for S = 4, D = 3).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Stagger ``stagger`` (S >= 1), delay ``delay`` (D >= 0) and the seed of the draws."""

    stagger: int = 4
    delay: int = 3
    seed: int = 0

    def __post_init__(self):
        if int(self.stagger) != self.stagger or self.stagger < 1:
            raise ValueError(f"stagger S must be an integer >= 1; got {self.stagger}.")
        if int(self.delay) != self.delay or self.delay < 0:
            raise ValueError(f"delay D must be an integer >= 0; got {self.delay}.")

    @property
    def staleness_bound(self) -> int:
        """B = S + D: no value a node reads is older than this many steps."""
        return self.stagger + self.delay

    @property
    def synchronous(self) -> bool:
        """S = 1, D = 0: every node updates every step from current values."""
        return self.stagger == 1 and self.delay == 0


def reverse_edges(senders, receivers) -> np.ndarray:
    """For every edge e = (j -> i) the index of (i -> j): the way packets travel back.

    Raises ValueError when some edge has no reverse (asynchronous energy inference
    needs every link in both directions, since g_ji goes from j back to i).
    """
    senders, receivers = np.asarray(senders), np.asarray(receivers)
    index = {(int(s), int(r)): e for e, (s, r) in enumerate(zip(senders, receivers))}
    reverse = np.empty(len(senders), np.int32)
    for e, (s, r) in enumerate(zip(senders, receivers)):
        back = index.get((int(r), int(s)))
        if back is None:
            raise ValueError(
                f"edge {e} ({int(s)} -> {int(r)}) has no reverse edge; asynchronous "
                "inference of an energy GNN needs undirected graphs (packets travel back)."
            )
        reverse[e] = back
    return reverse
