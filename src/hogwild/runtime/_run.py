"""One monitored run of a deployment: clocks started, events fired, agreement watched.

The trace has one point per poll: wall time since the start, the largest prediction
deviation from the synchronous answer of the current graph, the residual, and the
messages, bytes and node updates so far (summed over shards). A crashed shard's counters
restart with it; the run adds what its earlier incarnations had sent.
"""

from __future__ import annotations

import time

import numpy as np

from ._faults import Event


class Run:
    """Executes `Deployment.run` (one instance per run)."""

    def __init__(self, deployment, settings):
        self.dep, self.settings = deployment, settings
        self.pending = sorted(settings.events, key=lambda e: e.at)
        self.restarting: dict[int, int] = {}  # shard -> incarnation before the crash
        self.resume_from: dict[int, str] = {}  # shard -> "zero" | "snapshot", its crash's
        self.reports: dict[int, dict] = {}
        self.carried = {
            k: {"messages": 0, "bytes": 0, "ticks": 0} for k in range(deployment.shards)
        }
        self.trace: list[dict] = []
        self.events: list[dict] = []
        self.link_ups: list[tuple[float, int, int]] = []
        self.down: set[frozenset] = set()  # links down now
        self.diverged = False

    # ------------------------------------------------------------------ events

    def _fire(self, event: Event, now: float) -> None:
        import ray

        dep = self.dep
        if event.kind == "crash":
            self._check_shard(event.target)
            old = self.reports.get(event.target, {})
            self.resume_from[event.target] = event.resume
            self._carry(event.target, old)
            self.restarting[event.target] = old.get("incarnation", -1)
            ray.kill(dep.actors[event.target], no_restart=False)
        elif event.kind == "link_down":
            self._check_shard(event.target)
            self._check_shard(event.other)
            self._links(event.target, event.other, down=True)
            self.link_ups.append((now + event.duration, event.target, event.other))
        else:
            t = dep.topology
            data = t.apply(event.kind, event.target, event.other)
            dep.monitor.refresh()
            ray.get([a.change_graph.remote(data, t.active, t.version) for a in self._live()])
        self.events.append({"time": now, "event": event.describe()})

    def _check_shard(self, shard: int) -> None:
        if not 0 <= shard < self.dep.shards:
            raise ValueError(f"shard {shard} does not exist (0..{self.dep.shards - 1}).")

    def _links(self, a: int, b: int, down: bool) -> None:
        import ray

        (self.down.add if down else self.down.discard)(frozenset((a, b)))
        for k in (a, b):
            others = [next(iter(p - {k})) for p in self.down if k in p]
            if k not in self.restarting:
                ray.get(self.dep.actors[k].links_down.remote(others))

    def _live(self):
        return [a for k, a in enumerate(self.dep.actors) if k not in self.restarting]

    def _carry(self, shard: int, report: dict) -> None:
        for key in self.carried[shard]:
            self.carried[shard][key] += report.get(key, 0)

    # ------------------------------------------------------------------ polling

    def _poll(self) -> None:
        """Fresh reports from every shard; a restarted shard is reconnected and started."""
        import ray

        refs = {k: a.report.remote() for k, a in enumerate(self.dep.actors)}
        for k, ref in refs.items():
            try:  # a restarting shard answers once its new process is up: do not wait
                report = ray.get(ref, timeout=0.2 if k in self.restarting else 10.0)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError,
                    ray.exceptions.ActorUnavailableError):  # fmt: skip
                continue
            if k in self.restarting and report["incarnation"] != self.restarting[k]:
                self._revive(k, report)
            elif k not in self.restarting:
                self.reports[k] = report

    def _revive(self, k: int, report: dict) -> None:
        import ray

        dep, actor = self.dep, self.dep.actors[k]
        ray.get(actor.connect.remote(dict(enumerate(dep.actors))))
        # The crash decides, not whether a snapshot file exists: the dying process may
        # have written one after the crash was ordered (a race seen once in CI).
        keep = self.resume_from.pop(k) == "snapshot"
        ray.get(actor.load.remote(dep.current_spec(), keep_state=keep))
        report = report if keep else ray.get(actor.report.remote())
        others = [next(iter(p - {k})) for p in self.down if k in p]
        ray.get(actor.links_down.remote(others))
        ray.get(actor.start.remote())
        del self.restarting[k]
        self.reports[k] = report
        self.events.append(
            {"time": self._now(), "event": f"shard {k} restarted from {report['resumed']}"}
        )

    def _assemble(self):
        n = self.dep.topology.original.num_nodes
        width = next(iter(self.reports.values()))["h"].shape[1]
        h, layer = np.zeros((n, width)), np.zeros(n, np.int64)
        for r in self.reports.values():
            h[r["nodes"]], layer[r["nodes"]] = r["h"], r["layer"]
        return h, layer

    def _point(self) -> dict:
        h, layer = self._assemble()
        deviation, residual = self.dep.monitor.measure(h, layer)
        total = {key: sum(c[key] for c in self.carried.values()) for key in ("messages", "bytes")}
        return {
            "time": self._now(),
            "deviation": deviation,
            "residual": residual,
            "messages": total["messages"] + sum(r["messages"] for r in self.reports.values()),
            "bytes": total["bytes"] + sum(r["bytes"] for r in self.reports.values()),
            "updates": int(sum(r["updates"].sum() for r in self.reports.values())),
        }

    def _finished(self) -> bool:
        """An explicit model whose every active node has run its L layers."""
        model = self.dep.monitor.model
        return model.family == "explicit" and self.trace[-1]["residual"] == 0

    def _now(self) -> float:
        return time.monotonic() - self.start

    # ------------------------------------------------------------------ the loop

    def execute(self) -> dict:
        import ray

        dep, s = self.dep, self.settings
        ray.get([a.reset.remote(s.seed) for a in dep.actors])
        for k in range(dep.shards):
            dep.forget_snapshot(k)
        self.start = time.monotonic()
        ray.get([a.start.remote() for a in dep.actors])
        agreed_at = None
        while True:
            now = self._now()
            while self.pending and self.pending[0].at <= now:
                self._fire(self.pending.pop(0), now)
            for up in [u for u in self.link_ups if u[0] <= now]:
                self.link_ups.remove(up)
                self._links(up[1], up[2], down=False)
                self.events.append({"time": now, "event": f"link {up[1]}-{up[2]} up"})
            self._poll()
            if len(self.reports) == dep.shards:
                self.trace.append(self._point())
                if not np.isfinite(self.trace[-1]["deviation"]):
                    self.diverged = True
                    break
                settled = not (self.pending or self.restarting or self.link_ups)
                if settled and self.trace[-1]["deviation"] <= s.tol:
                    agreed_at = self.trace[-1]
                    break
                if settled and self._finished():
                    break
            if now > s.timeout:
                break
            time.sleep(s.poll)
        ray.get([a.stop.remote() for a in self._live()])
        return self._summary(agreed_at)

    def _summary(self, agreed_at: dict | None) -> dict:
        from ._accounting import summary

        return summary(self, agreed_at)
