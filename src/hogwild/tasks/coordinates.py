"""The coordinates task (Section 6.1): relative localisation of agents in the plane.

Each graph has ``num_nodes`` points drawn uniformly in the unit square; two nodes share an
(undirected) edge when they are closer than ``radius``, and the edge feature is that
distance. Node features are one-hot node ids (to break symmetries), and the node targets
are the true coordinates (n, 2). There is no global frame: the task kind is ``distance``,
whose loss compares the pairwise distances of the predicted points with the true ones
(see `hogwild.train._objective`), so any rotation, reflection or translation of the true
layout is a perfect prediction.

Interpretation: a graph is resampled (from the same seeded stream) until it is connected.
The paper does not say so, but an agent in another component could only be placed
relative to agents it can never hear from, so the pairwise-distance target would be
unlearnable for such pairs.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ..graph import GraphData, graph_from_edges
from ._base import Dataset, split_dataset
from ._checks import check_int, check_split

MAX_ATTEMPTS = 10_000


@dataclasses.dataclass(frozen=True)
class CoordinatesConfig:
    """Size of the coordinates dataset (defaults: the paper's 1500 graphs of 20 points,
    edges below distance 0.5)."""

    num_graphs: int = 1500
    num_nodes: int = 20
    radius: float = 0.5
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0

    def __post_init__(self):
        check_split(self)
        check_int("num_nodes", self.num_nodes, 2)
        if isinstance(self.radius, bool) or not isinstance(self.radius, numbers.Real):
            raise ValueError(f"`radius` must be a number; got {self.radius!r}.")
        if not 0 < self.radius < np.inf:
            raise ValueError(f"`radius` must be positive and finite; got {self.radius}.")


def pairwise_distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix (n, n) of points (n, d)."""
    diff = points[:, None, :] - points[None, :, :]
    return np.sqrt(np.sum(diff**2, axis=-1))


def is_connected(adjacency: np.ndarray) -> bool:
    """Whether the undirected graph with boolean ``adjacency`` (n, n) is connected."""
    n = adjacency.shape[0]
    reach = adjacency | np.eye(n, dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(n))))):  # paths of length <= 2^k
        reach = (reach.astype(np.int32) @ reach.astype(np.int32)) > 0
    return bool(reach[0].all())


def sample_points(rng: np.random.Generator, num_nodes: int, radius: float) -> np.ndarray:
    """Uniform points in the unit square (float32, as stored), redrawn until their radius
    graph is connected."""
    for _ in range(MAX_ATTEMPTS):
        points = rng.uniform(size=(num_nodes, 2)).astype(np.float32)  # as stored
        if is_connected(pairwise_distances(points.astype(np.float64)) < radius):
            return points
    raise ValueError(
        f"no connected graph of {num_nodes} points with `radius` {radius} in {MAX_ATTEMPTS} "
        "draws; increase `radius`."
    )


def make_coordinates_graph(points: np.ndarray, radius: float) -> GraphData:
    """The radius graph of ``points``: one-hot ids, distances on edges, coordinates as targets."""
    n = points.shape[0]
    points = points.astype(np.float32)  # stored targets; edges and distances agree with them
    dist = pairwise_distances(points.astype(np.float64))
    i, j = np.nonzero(np.triu(dist < radius, k=1))
    return graph_from_edges(
        np.eye(n, dtype=np.float32),
        np.stack([i, j], axis=1),
        edges=dist[i, j, None].astype(np.float32),
        node_targets=points,
    )


def make_coordinates(config: CoordinatesConfig = CoordinatesConfig()) -> Dataset:
    """Seeded connected radius graphs, split 60/20/20 (by default) by graph."""
    rng = np.random.default_rng([config.seed, 3])  # split_indices uses plain `seed`
    graphs = [
        make_coordinates_graph(sample_points(rng, config.num_nodes, config.radius), config.radius)
        for _ in range(config.num_graphs)
    ]
    return split_dataset(
        "coordinates",
        graphs,
        config.fractions,
        config.seed,
        kind="distance",
        level="node",
        out_size=2,
    )
