"""Faults injected on purpose: lossy links, and events at given wall-clock times.

`Faults` acts on every message between two shards (one message carries all the packets
of one tick from one shard to another): it is lost with probability ``loss``, otherwise
delivered after a delay uniform in [0, ``delay``] seconds (so messages overtake each
other: reordering), and with probability ``duplicate`` a second copy follows after its own
random delay.

`Event`\\ s happen at ``at`` seconds after the start of a run:

- ``crash``: shard ``target`` is killed; Ray restarts its actor, which resumes from zero
  state (``resume="zero"``) or from its last local snapshot (``resume="snapshot"``);
- ``link_down``: no message passes between shards ``target`` and ``other`` for
  ``duration`` seconds;
- ``leave`` / ``join``: node ``target`` leaves the graph (its edges disappear, it stops) or
  comes back with its edges;
- ``drop_edge`` / ``add_edge``: the undirected edge ``target`` — ``other`` disappears,
  or appears (an edge of the original graph comes back; a new one has weight 1 and zero
  edge features).
"""

from __future__ import annotations

import dataclasses

KINDS = ("crash", "link_down", "leave", "join", "drop_edge", "add_edge")


@dataclasses.dataclass(frozen=True)
class Faults:
    """Per-message faults of every link between shards (defaults: a perfect network)."""

    loss: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0

    def __post_init__(self):
        for name in ("loss", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be a probability in [0, 1); got {value}.")
        if not self.delay >= 0.0:
            raise ValueError(f"`delay` must be >= 0 seconds; got {self.delay}.")


@dataclasses.dataclass(frozen=True)
class Event:
    """Something that happens to the deployment ``at`` seconds into a run (see module)."""

    at: float
    kind: str
    target: int
    other: int | None = None
    duration: float = 0.0
    resume: str = "zero"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown event {self.kind!r}; valid: {', '.join(KINDS)}.")
        if not self.at >= 0:
            raise ValueError(f"an event's time must be >= 0 seconds; got {self.at}.")
        if self.kind in ("link_down", "drop_edge", "add_edge") and self.other is None:
            raise ValueError(f"a {self.kind} event needs two ends (`other`).")
        if self.resume not in ("zero", "snapshot"):
            raise ValueError(f"`resume` must be 'zero' or 'snapshot'; got {self.resume!r}.")

    def describe(self) -> str:
        ends = f"{self.target}" if self.other is None else f"{self.target}-{self.other}"
        extra = f" for {self.duration:g} s" if self.kind == "link_down" else ""
        extra += f", resumes from {self.resume}" if self.kind == "crash" else ""
        return f"{self.kind} {ends}{extra}"


def parse_event(text: str) -> Event:
    """``KIND:TARGET[-OTHER]@SECONDS[:DURATION|:snapshot]`` from the command line, e.g.
    ``crash:2@1.5``, ``crash:2@1.5:snapshot``, ``link_down:0-1@1:2``, ``leave:17@3``."""
    try:
        head, when = text.split("@")
        kind, ends = head.split(":")
        target, _, other = ends.partition("-")
        at, _, tail = when.partition(":")
        options = {}
        if kind == "link_down" and tail:
            options["duration"] = float(tail)
        elif kind == "crash" and tail:
            options["resume"] = tail
        return Event(float(at), kind, int(target), int(other) if other else None, **options)
    except ValueError as err:
        if "unknown event" in str(err) or "needs two ends" in str(err) or "`" in str(err):
            raise
        raise ValueError(
            f"cannot read event {text!r}: expected KIND:TARGET[-OTHER]@SECONDS[:DURATION], "
            "e.g. crash:2@1.5 or link_down:0-1@1:2."
        ) from None
