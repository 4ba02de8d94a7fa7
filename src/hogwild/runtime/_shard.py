"""A shard: a Ray actor that owns some nodes and updates them on its own clock.

Every ``period`` × U(1 − jitter, 1 + jitter) seconds the shard runs one `tick` of its
nodes from its views (`EdgeViews`), then publishes, per edge i → j leaving one of its
nodes, the packet (h_i, g_ij) stamped (incarnation, counter): straight into its own views
when it owns j, else in one message per neighbouring shard, through the link's `Faults`.
Energies publish the state their packets were computed at (the pair of Eq. 13); other
families publish the new state. A shard that is killed is restarted by Ray with the same
constructor arguments and resumes from zero state or from its last snapshot, which it
writes atomically every ``snapshot_every`` ticks.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np

from ._views import EdgeViews


class Shard:
    """One shard of a deployment (use through `hogwild.runtime.Deployment`)."""

    def __init__(self, index: int, spec: bytes):
        from .._cache import enable_compilation_cache

        enable_compilation_cache()  # a restarted shard loads its compiled tick from disk
        self.index, self.incarnation = index, time.time_ns()
        self.peers, self.down, self.task = {}, set(), None
        self._load(pickle.loads(spec), keep=False)
        self._resume()

    def _load(self, spec: dict, keep: bool) -> None:
        """Take ``spec`` (model, graph, owners, faults, clock); H(0) unless ``keep``."""
        import jax

        if spec["x64"]:
            jax.config.update("jax_enable_x64", True)
        states = self.h if keep and hasattr(self, "h") else None
        if states is None:
            self.resumed = "zero"
        self.spec, self.faults = spec, spec["faults"]
        self.rng = np.random.default_rng([spec["seed"], self.index, self.incarnation % 2**32])
        self.ticks = self.sent = self.bytes = self.lost = self.duplicated = 0
        if hasattr(self, "views"):
            del self.views
        self._set_graph(spec["graph"], spec["active"], spec["version"], states=states)

    # ------------------------------------------------------------------ state and graph

    def _set_graph(self, data, active, version: int, states) -> None:
        from ._rule import initial_states, packet_width, padded_graph, padded_reverse

        model, owner = self.spec["model"], self.spec["owner"]
        self.data, self.active = data, np.asarray(active, bool)
        self.graph = padded_graph(data, self.spec["dtype"])
        self.reverse = padded_reverse(data, self.graph.senders.shape[0])
        n = data.num_nodes
        self.mine = np.zeros(self.graph.num_nodes, bool)
        self.mine[:n] = (owner == self.index) & self.active
        fresh = states is None or states.shape[0] != self.graph.num_nodes
        self.h = initial_states(model, self.graph) if fresh else states
        width = self.h.shape[1]
        if not hasattr(self, "views"):
            self.views = EdgeViews(data.senders, data.receivers, width, packet_width(model),
                                   self.h.dtype, version)  # fmt: skip
            self.layer = np.zeros(self.graph.num_nodes, np.int32)
            self.updates = np.zeros(n, np.int64)
            self.packets = np.zeros(n, np.int64)  # packets each node sent to other shards
            self.packet_bytes = np.zeros(n, np.int64)
        else:
            self.views = self.views.rekeyed(data.senders, data.receivers, version)
        self._routes()

    def _routes(self) -> None:
        """Per edge i → j leaving a node of mine: where its packet goes."""
        owner, s, r = self.spec["owner"], self.data.senders, self.data.receivers
        leaving = self.mine[: self.data.num_nodes][s]
        self.local = np.flatnonzero(leaving & self.mine[: self.data.num_nodes][r])
        remote = np.flatnonzero(leaving & ~(owner[r] == self.index))
        self.remote = {int(k): remote[owner[r[remote]] == k] for k in np.unique(owner[r[remote]])}

    def _snapshot_path(self) -> Path | None:
        folder = self.spec.get("snapshot_dir")
        return None if folder is None else Path(folder) / f"shard-{self.index}.pkl"

    def _resume(self) -> None:
        path = self._snapshot_path()
        self.resumed = "zero"
        if self.spec.get("resume") == "snapshot" and path is not None and path.is_file():
            saved = pickle.loads(path.read_bytes())
            mine = self.mine[: len(saved["h"])]
            self.h[: len(saved["h"])][mine] = saved["h"][mine]
            self.resumed = "snapshot"

    def _snapshot(self) -> None:
        path = self._snapshot_path()
        if path is None:
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as out:
            out.write(pickle.dumps({"h": self.h[: self.data.num_nodes]}))
        os.replace(tmp, path)

    # ------------------------------------------------------------------ the clock

    def _tick(self) -> None:
        from ._rule import tick

        model, n = self.spec["model"], self.data.num_nodes
        m_pad = self.graph.senders.shape[0]
        h_view = np.zeros((m_pad, self.h.shape[1]), self.h.dtype)
        g_in = np.zeros((m_pad, self.views.g.shape[1]), self.h.dtype)
        h_view[: self.data.num_edges], g_in[: self.data.num_edges] = self.views.h, self.views.g
        new, packets = tick(model, self.graph, self.h, h_view, g_in, self.layer,
                            self.spec["alpha"])  # fmt: skip
        new, packets = np.asarray(new), np.asarray(packets)
        running = self.mine.copy()
        if model.family == "explicit":
            running &= self.layer < model.num_layers
        published = self.h if model.family == "optimisation" else np.where(
            running[:, None], new, self.h)  # fmt: skip
        self.h = np.where(running[:, None], new, self.h)
        self.layer = self.layer + running
        self.updates += running[:n]
        self.ticks += 1
        self._publish(published, packets)
        every = self.spec.get("snapshot_every", 0)
        if every and self.ticks % every == 0:
            self._snapshot()

    def _publish(self, h, packets) -> None:
        """Packets (h_i, g_ij) of every edge i → j leaving my nodes, stamped."""
        s, version = self.data.senders, self.views.version
        for dest, edges in [(None, self.local), *self.remote.items()]:
            if len(edges) == 0:
                continue
            stamps = (np.full(len(edges), self.incarnation), np.full(len(edges), self.ticks))
            msg = (version, edges, *stamps, h[s[edges]], packets[self.reverse[edges]])
            if dest is None:
                self.views.accept(*msg)
            else:
                np.add.at(self.packets, s[edges], 1)
                np.add.at(self.packet_bytes, s[edges], sum(p.itemsize * p[0].size
                                                           for p in msg[1:]))  # fmt: skip
                self._send(dest, msg)

    def _send(self, dest: int, msg) -> None:
        """One message to shard ``dest`` through the link's faults."""
        self.sent += 1
        self.bytes += sum(np.asarray(part).nbytes for part in msg[1:])
        if dest in self.down or self.rng.random() < self.faults.loss:
            self.lost += 1
            return
        copies = 2 if self.rng.random() < self.faults.duplicate else 1
        self.duplicated += copies - 1
        for _ in range(copies):
            delay = self.rng.uniform(0.0, self.faults.delay) if self.faults.delay else 0.0
            peer = self.peers[dest]
            if delay:
                asyncio.get_running_loop().call_later(delay, lambda: peer.receive.remote(*msg))
            else:
                peer.receive.remote(*msg)

    async def _run(self) -> None:
        period, jitter = self.spec["period"], self.spec["jitter"]
        while True:
            self._tick()
            await asyncio.sleep(period * self.rng.uniform(1.0 - jitter, 1.0 + jitter))

    # ------------------------------------------------------------------ remote methods

    async def connect(self, peers: dict) -> int:
        self.peers = {int(k): v for k, v in peers.items()}
        return self.incarnation

    async def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def receive(self, version, edges, incarnation, counter, h, g) -> None:
        self.views.accept(version, edges, incarnation, counter, h, g)

    async def links_down(self, shards) -> None:
        self.down = {int(k) for k in shards}

    async def change_graph(self, data, active, version: int) -> None:
        self._set_graph(data, active, version, states=self.h)
        self.spec = {**self.spec, "graph": data, "active": active, "version": version}

    async def load(self, spec: bytes, keep_state: bool = False) -> None:
        """A new model, graph or clock (``keep_state``: keep the nodes' states, as after a
        restart)."""
        self._load(pickle.loads(spec), keep=keep_state)

    async def warm(self) -> None:
        """Compile the tick once (nothing is kept or sent), so a run starts at full speed."""
        from ._rule import tick

        m_pad = self.graph.senders.shape[0]
        h_view = np.zeros((m_pad, self.h.shape[1]), self.h.dtype)
        g_in = np.zeros((m_pad, self.views.g.shape[1]), self.h.dtype)
        tick(self.spec["model"], self.graph, self.h, h_view, g_in, self.layer, self.spec["alpha"])

    async def reset(self, seed: int) -> None:
        """Back to H(0) and empty views (a new run on the same deployment)."""
        self._load({**self.spec, "seed": seed}, keep=False)

    async def report(self) -> dict:
        nodes = np.flatnonzero(self.mine[: self.data.num_nodes])
        return {
            "shard": self.index,
            "incarnation": self.incarnation,
            "running": self.task is not None,
            "resumed": self.resumed,
            "nodes": nodes,
            "h": self.h[nodes],
            "layer": self.layer[nodes],
            "updates": self.updates[nodes],
            "packets": self.packets[nodes],
            "packet_bytes": self.packet_bytes[nodes],
            "ticks": self.ticks,
            "messages": self.sent,
            "bytes": self.bytes,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "accepted": self.views.accepted,
            "ignored": self.views.ignored,
        }
