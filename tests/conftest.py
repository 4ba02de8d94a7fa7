"""Shared fixtures: float64 everywhere, deterministic PRNG keys and small graph builders.

Each test worker gets its own persistent compilation cache in a new temporary directory
(``HOGWILD_CACHE``, inherited by the CLI subprocesses it starts): tests that compile the
same program reuse it within the run, yet no test depends on what earlier runs left on
disk, and no two workers share a cache (two workers loading programs the other was
writing crashed XLA, a segfault in the cache read, when they shared one). Ray actors
started by the runtime tests compile without it (`tests/test_runtime.py`). A shared cache
made safe by JAX's file lock (which it takes only for a bounded cache) was measured
slower: every write then scans the whole directory for eviction, and the suite's
thousands of small eager programs made the suite take 1110 s on an idle machine against
1024 s with per-worker caches on a loaded one.

Each worker is pinned to a CPU of its own before JAX starts (`hogwild._cpus`: two
unpinned JAX processes on two cores wait on each other's descheduled threads, and each
ran 17-33x slower than alone); CLI subprocesses it starts inherit the CPU (the
runtime tests start Ray with every CPU: `tests/test_runtime.py`).

Tests compile far more than they run: XLA's expensive optimisation passes are switched off
(``JAX_DISABLE_MOST_OPTIMIZATIONS``, inherited by CLI subprocesses and Ray actors), which
cut the suite's compile-bound tests by a third to a half (measured). The programs compute
the same functions; only their speed differs. XLA's parallel code generation is off too
(``--xla_cpu_parallel_codegen_split_count=1``: a worker has one CPU), and `import hogwild`
adds its own flag, the older fusion emitters (`hogwild._xla`); with both the suite took
598 s instead of 873 s (idle, 2026-12-07; `python bench/xla_flags.py`).
"""

from __future__ import annotations

import itertools
import os
import tempfile

from hogwild._xla import SERIAL_CODEGEN, with_defaults  # imports hogwild; JAX starts later

os.environ["XLA_FLAGS"] = with_defaults(os.environ.get("XLA_FLAGS", ""), SERIAL_CODEGEN)
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
if _worker.startswith("gw"):
    from hogwild._cpus import pin_to_cpu

    pin_to_cpu(int(_worker[2:]))
os.environ["HOGWILD_CACHE"] = tempfile.mkdtemp(prefix=f"hogwild-tests-{_worker}-")
os.environ["HOGWILD_COMPILATION_CACHE"] = "1"
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from hogwild._cache import enable_compilation_cache  # noqa: E402

enable_compilation_cache()

import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import hogwild  # noqa: E402

#: Files sent to the two test workers heaviest first (seconds each on an idle 2-core
#: machine, session 42: 185, 179, 130, 120, 71, 69, 67, 63, 56, 52, 45, 39, 38), so that
#: the light ones fill the gaps and both workers end together; xdist's own order (most
#: tests first, ``--no-loadscope-reorder`` in pyproject.toml turns it off) sent five-test
#: files of 45 s last. Order only: every file runs whatever this list says.
HEAVIEST_FIRST = (
    "test_asynchrony.py",
    "test_cli.py",
    "test_group.py",
    "test_newton.py",
    "test_train.py",
    "test_runs.py",
    "test_models.py",
    "test_solve.py",
    "test_conditioning.py",
    "test_runtime.py",
    "test_conditioning_study.py",
    "test_guard.py",
    "test_cli_tasks.py",
)


def pytest_collection_modifyitems(items):
    """Heaviest files first (`HEAVIEST_FIRST`), each file's tests in their own order."""
    rank = {name: k for k, name in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def getkey():
    """Call ``getkey()`` for a fresh PRNG key; the sequence is the same in every test run."""
    base = jr.PRNGKey(20240611)
    counter = itertools.count()

    def _getkey():
        return jr.fold_in(base, next(counter))

    return _getkey


class GraphFactory:
    """Small host graphs (`GraphData`) and their float64 batches (`Graph`)."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def chain(
        self,
        length: int,
        *,
        in_size: int = 2,
        hot: int = 0,
        edge_size: int = 0,
        directed: bool = False,
    ) -> hogwild.GraphData:
        """Path 0 - 1 - ... - (length-1); node 0 carries a one-hot feature, the rest zeros."""
        x = np.zeros((length, in_size))
        x[0, hot % in_size] = 1.0
        pairs = [(i, i + 1) for i in range(length - 1)]
        edges = self.rng.normal(size=(len(pairs), edge_size)) if edge_size else None
        return hogwild.graph_from_edges(x, pairs, edges=edges, directed=directed)

    def random(
        self,
        n: int,
        *,
        in_size: int = 2,
        edge_size: int = 0,
        extra: int = 2,
        directed: bool = False,
    ) -> hogwild.GraphData:
        """Connected random graph: a random spanning tree plus ``extra`` random further edges."""
        perm = self.rng.permutation(n)
        pairs = {(int(perm[k]), int(perm[self.rng.integers(k)])) for k in range(1, n)}
        if not directed:
            pairs = {(min(a, b), max(a, b)) for a, b in pairs}
        target = min(len(pairs) + extra, n * (n - 1) // (1 if directed else 2))
        while len(pairs) < target:
            a, b = (int(v) for v in self.rng.choice(n, size=2, replace=False))
            pairs.add((a, b) if directed else (min(a, b), max(a, b)))
        pairs = sorted(pairs)
        x = self.rng.normal(size=(n, in_size))
        edges = self.rng.normal(size=(len(pairs), edge_size)) if edge_size else None
        return hogwild.graph_from_edges(x, pairs, edges=edges, directed=directed)

    @staticmethod
    def batch(graphs, **kwargs) -> hogwild.Graph:
        return hogwild.batch_graphs(list(graphs), dtype=np.float64, **kwargs)


@pytest.fixture
def graphs():
    """A `GraphFactory` seeded identically in every test."""
    return GraphFactory(seed=0)


@pytest.fixture(scope="session")
def energy_model():
    """``energy_model(variant, **kwargs)``: an `EnergyGNN` (in_size 2, edge_size 1, out_size 1
    unless overridden) built once per session for each distinct set of arguments."""
    cache = {}

    def get(variant: str, *, seed: int = 0, **kwargs):
        kwargs = {"in_size": 2, "edge_size": 1, "out_size": 1, **kwargs}
        name = (variant, seed, tuple(sorted(kwargs.items())))
        if name not in cache:
            cache[name] = hogwild.EnergyGNN(
                kwargs.pop("in_size"),
                kwargs.pop("edge_size"),
                kwargs.pop("out_size"),
                variant=variant,
                key=jr.PRNGKey(seed),
                **kwargs,
            )
        return cache[name]

    return get


@pytest.fixture(autouse=True, scope="module")
def _fresh_compilation_state():
    """Drop JAX's in-memory compiled programs after every test module: a worker otherwise
    holds every program of the files it ran (a late XLA compile crashed once in a full
    run), and no module relies on another's compilations."""
    yield
    jax.clear_caches()


@pytest.fixture
def optimised():
    """XLA's full optimisation for a test that runs its programs far longer than it
    compiles them (hundreds of thousands of simulated steps): the suite otherwise compiles
    with most optimisations off (module docstring). In-memory programs are dropped first so
    that the test's own are compiled anew."""
    flag = "jax_disable_most_optimizations"
    before = jax.config.read(flag)
    jax.clear_caches()
    jax.config.update(flag, False)
    yield
    jax.config.update(flag, before)
