"""Deploy a trained model on Ray: shards as actors, runs with faults, monitored from outside.

`Deployment` partitions the graph's nodes into shards (`partition`), starts one Ray actor
per shard (a local Ray instance it starts and stops itself, or an existing cluster at
``address``) and connects them. `Deployment.run` starts every shard's clock and watches
from outside: every ``poll`` seconds it asks each shard for its nodes' states (the agents
themselves never see global information) and compares the predictions with the
synchronous ones of the current graph. It fires the planned `Event`\\ s (crashes, links
going down, nodes leaving or joining, edges disappearing or coming back) and stops at
*agreement* — every prediction within ``tol`` of the synchronous one, after the last event
— or at ``timeout``.
"""

from __future__ import annotations

import dataclasses
import pickle
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..graph import GraphData
from ._faults import Event, Faults
from ._monitor import Monitor
from ._topology import Topology

ENV = {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}


def partition(data: GraphData, shards: int) -> np.ndarray:
    """Shard of every node: breadth-first order from node 0 cut into ``shards`` runs of
    (almost) equal size, so that a shard's nodes are mostly neighbours of each other and
    few edges cross shards."""
    import networkx as nx

    if not 1 <= shards <= data.num_nodes:
        raise ValueError(f"shards must be in 1..{data.num_nodes} (nodes); got {shards}.")
    g = nx.Graph()
    g.add_nodes_from(range(data.num_nodes))
    g.add_edges_from(zip(data.senders.tolist(), data.receivers.tolist()))
    order = []
    for component in sorted(nx.connected_components(g), key=min):
        order.extend(nx.bfs_tree(g, min(component)).nodes)
    owner = np.empty(data.num_nodes, np.int64)
    owner[np.array(order)] = np.arange(data.num_nodes) * shards // data.num_nodes
    return owner


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """How a run is watched and when it ends."""

    events: tuple[Event, ...] = ()
    tol: float = 1e-3
    timeout: float = 60.0
    poll: float = 0.1
    seed: int = 0


class Deployment:
    """A model deployed on ``shards`` Ray actors over the graph ``data``.

    Args:
        model: a trained model (any family).
        data: the graph (one `GraphData`), node features of the model's size.
        shards: number of actors (default 4, at most the number of nodes), or
        shard_size: nodes per actor instead (1: one agent per node).
        faults: per-message faults of the links between shards.
        period, jitter: each shard ticks every period × U(1 − jitter, 1 + jitter) s.
        step_size: α of energies: a number, "sync" or "minimiser" (default; see
            `Monitor.step_size`).
        address: an existing Ray cluster ("auto", "ray://host:10001"); default: a local
            instance started here and stopped by `close`.
        snapshot_dir: where each shard writes its snapshot every ``snapshot_every``
            ticks (default: a new temporary directory; on a cluster, a path on each
            machine); a restarted shard resumes from its snapshot if there is one.
    """

    def __init__(
        self,
        model,
        data: GraphData,
        *,
        shards: int | None = 4,
        shard_size: int | None = None,
        faults: Faults = Faults(),
        period: float = 0.005,
        jitter: float = 0.5,
        step_size: float | str | None = None,
        address: str | None = None,
        snapshot_dir: str | None = None,
        snapshot_every: int = 20,
        x64: bool = False,
    ):
        import ray

        if shard_size is not None:
            if shard_size < 1:
                raise ValueError(f"shard_size must be >= 1; got {shard_size}.")
            shards = -(-data.num_nodes // shard_size)
        self.owner = partition(data, shards)
        self.topology = Topology(data)
        self.monitor = Monitor(model, self.topology, x64)
        self.x64 = x64
        self.started_ray = not ray.is_initialized()
        snapshot_dir = snapshot_dir or tempfile.mkdtemp(prefix="hogwild-snapshots-")
        self.snapshot_dir = Path(snapshot_dir)
        if self.started_ray:
            with warnings.catch_warnings():  # Ray's fork + exec, not a fork of JAX threads
                warnings.simplefilter("ignore", RuntimeWarning)
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)  # fmt: skip
        self.spec = {
            "model": self.monitor.model,
            "graph": data,
            "active": self.topology.active,
            "owner": self.owner,
            "faults": faults,
            "period": period,
            "jitter": jitter,
            "alpha": self.monitor.step_size(step_size),
            "dtype": self.monitor.dtype,
            "x64": x64,
            "seed": 0,
            "snapshot_dir": snapshot_dir,
            "snapshot_every": snapshot_every,
            "resume": "snapshot",
        }
        self.actors = [self._actor(k) for k in range(shards)]
        self._connect(range(shards))
        ray.get([a.warm.remote() for a in self.actors])

    def current_spec(self) -> bytes:
        """What a shard needs, for the graph as it is now."""
        return pickle.dumps(
            {
                **self.spec,
                "graph": self.topology.data,
                "active": self.topology.active.copy(),
                "version": self.topology.version,
            }
        )

    def load(self, model, step_size: float | str | None = None, **settings) -> None:
        """Deploy another model on the same shards (same graph); ``settings`` replace the
        deployment's ``faults``, ``period`` or ``jitter``."""
        import ray

        unknown = set(settings) - {"faults", "period", "jitter"}
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(sorted(unknown))}.")
        self.monitor = Monitor(model, self.topology, self.x64)
        self.spec = {**self.spec, **settings, "model": self.monitor.model,
                     "alpha": self.monitor.step_size(step_size)}  # fmt: skip
        spec = self.current_spec()
        ray.get([a.load.remote(spec) for a in self.actors])
        ray.get([a.warm.remote() for a in self.actors])

    def _actor(self, index: int):
        import ray

        from ._shard import Shard

        spec = self.current_spec()
        remote = ray.remote(Shard).options(
            num_cpus=0, max_restarts=-1, max_task_retries=0, runtime_env={"env_vars": ENV}
        )
        return remote.remote(index, spec)

    def _connect(self, indices) -> None:
        import ray

        peers = dict(enumerate(self.actors))
        ray.get([self.actors[k].connect.remote(peers) for k in indices])

    @property
    def shards(self) -> int:
        return len(self.actors)

    def run(self, settings: RunSettings = RunSettings()) -> dict:
        """One run from H(0) with ``settings``; returns the trace and the accounting."""
        from ._run import Run

        return Run(self, settings).execute()

    def reset_graph(self) -> None:
        """Back to the original graph (every node active, every edge present)."""
        import ray

        self.topology = Topology(self.topology.original, self.topology.version + 1)
        self.monitor.topology = self.topology
        self.monitor.refresh()
        t = self.topology
        ray.get([a.change_graph.remote(t.data, t.active, t.version) for a in self.actors])

    def forget_snapshot(self, shard: int) -> None:
        """Delete ``shard``'s snapshot, so that its next restart begins from zero state."""
        (self.snapshot_dir / f"shard-{shard}.pkl").unlink(missing_ok=True)

    def close(self) -> None:
        """Kill the actors; stop Ray if this deployment started it."""
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
        if self.started_ray:
            ray.shutdown()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
