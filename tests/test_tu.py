"""TU benchmarks: the checked loader (real files, corrupt copies, download), stratified
cross-validation folds, and that no test-fold graph is ever used for model selection."""

from __future__ import annotations

import io
import shutil
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _support import FakeServer, missing_data, shared_data_root

from hogwild.data import DataError, load_tu
from hogwild.data import tu as tu_module
from hogwild.tasks import MutagConfig, make_task
from hogwild.tasks._folds import cv_split, stratified_folds


@pytest.fixture(scope="module")
def data_root() -> Path:
    root = shared_data_root()
    if not (root / "TU" / "MUTAG" / "MUTAG_A.txt").is_file():
        missing_data(f"TU files not found in {root / 'TU'} (set HOGWILD_DATA)")
    return root


def _copy(data_root: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / "TU" / name
    shutil.copytree(data_root / "TU" / name, target)
    return target


# ---------------------------------------------------------------- the real files


@pytest.mark.dataset
@pytest.mark.parametrize(
    "name, graphs, nodes, edges, features",
    [("MUTAG", 188, 17.93, 19.79, 7), ("PROTEINS", 1113, 39.06, 72.82, 3)],
)
def test_statistics_equal_the_data_readme(data_root, name, graphs, nodes, edges, features):
    dataset = load_tu(name, root=data_root)
    stats = dataset.statistics()
    assert stats["graphs"] == graphs and stats["classes"] == 2
    assert round(stats["nodes_per_graph"], 2) == nodes
    assert round(stats["edges_per_graph"], 2) == edges
    assert stats["features"] == features
    assert sorted(np.unique(dataset.labels).tolist()) == [0, 1]
    for g in dataset.graphs[:20]:  # one-hot node labels, edges in both directions
        assert np.all(g.nodes.sum(axis=1) == 1.0)
        pairs = set(zip(g.senders.tolist(), g.receivers.tolist()))
        assert pairs == {(j, i) for i, j in pairs}


@pytest.mark.dataset
def test_mutag_labels_and_optional_features(data_root):
    plain = load_tu("MUTAG", root=data_root)
    assert plain.classes == (-1, 1)
    assert np.bincount(plain.labels).tolist() == [63, 125]
    assert plain.graphs[0].edges.shape[1] == 0
    bonds = load_tu("MUTAG", root=data_root, edge_labels=True)
    counts = sum(g.edges.sum(axis=0) for g in bonds.graphs)
    assert counts.tolist() == [4708, 2008, 724, 2]  # the README's edge label counts
    proteins = load_tu("PROTEINS", root=data_root, node_attributes=True)
    assert proteins.graphs[0].nodes.shape[1] == 4
    assert proteins.classes == (1, 2) and np.bincount(proteins.labels).tolist() == [663, 450]


@pytest.mark.dataset
def test_truncated_file_is_refused_with_its_name(data_root, tmp_path):
    directory = _copy(data_root, tmp_path, "MUTAG")
    path = directory / "MUTAG_A.txt"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataError, match=r"MUTAG_A\.txt: SHA-256 .*truncated or corrupt"):
        load_tu("MUTAG", root=tmp_path)


@pytest.mark.dataset
def test_missing_file_is_named_and_hogwild_data_is_used(data_root, tmp_path, monkeypatch):
    directory = _copy(data_root, tmp_path, "MUTAG")
    monkeypatch.setenv("HOGWILD_DATA", str(tmp_path))
    assert len(load_tu("MUTAG").graphs) == 188
    # a known dataset's node labels are required, never read as "no node labels"
    (directory / "MUTAG_node_labels.txt").unlink()
    with pytest.raises(DataError, match=r"MUTAG_node_labels\.txt not found"):
        load_tu("MUTAG")
    (directory / "MUTAG_graph_labels.txt").unlink()
    with pytest.raises(DataError, match=r"MUTAG_graph_labels\.txt not found"):
        load_tu("MUTAG")


def _write_tiny(directory: Path, lines_a: str) -> None:
    """A two-graph dataset TINY (no checksums known): nodes 1-3 in graph 1, 4-5 in 2."""
    directory.mkdir(parents=True)
    (directory / "TINY_A.txt").write_text(lines_a)
    (directory / "TINY_graph_indicator.txt").write_text("1\n1\n1\n2\n2\n")
    (directory / "TINY_graph_labels.txt").write_text("3\n7\n")
    (directory / "TINY_node_labels.txt").write_text("0\n1\n2\n0\n1\n")


def test_format_errors_name_the_file(tmp_path):
    _write_tiny(tmp_path / "TU" / "TINY", "1, 2\n2, 1\n3, 4\n4, 3\n")
    with pytest.raises(DataError, match=r"TINY_A\.txt: line 3 joins nodes of graphs 1 and 2"):
        load_tu("TINY", root=tmp_path)
    shutil.rmtree(tmp_path / "TU")
    _write_tiny(tmp_path / "TU" / "TINY", "1, 2\n2, 1\n4, 9\n")
    with pytest.raises(DataError, match=r"TINY_A\.txt: node ids outside 1\.\.5"):
        load_tu("TINY", root=tmp_path)


def test_tiny_dataset_round_trip(tmp_path):
    _write_tiny(tmp_path / "TU" / "TINY", "1, 2\n2, 1\n2, 3\n3, 2\n4, 5\n5, 4\n")
    dataset = load_tu("TINY", root=tmp_path)
    first, second = dataset.graphs
    assert dataset.classes == (3, 7) and dataset.labels.tolist() == [0, 1]
    assert first.nodes.tolist() == np.eye(3).tolist()
    assert sorted(zip(first.senders.tolist(), first.receivers.tolist())) == [
        (0, 1),
        (1, 0),
        (1, 2),
        (2, 1),
    ]
    assert second.nodes.tolist() == np.eye(3)[[0, 1]].tolist()
    assert second.graph_target.tolist() == [1.0]


@pytest.mark.dataset
def test_download_checks_every_file_and_keeps_nothing_corrupt(data_root, tmp_path, monkeypatch):
    monkeypatch.delenv("HOGWILD_DATA", raising=False)
    monkeypatch.setenv("HOGWILD_CACHE", str(tmp_path / "cache"))

    def archive(corrupt: bool) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for path in sorted((data_root / "TU" / "MUTAG").glob("MUTAG_*.txt")):
                data = path.read_bytes()
                if corrupt and path.name == "MUTAG_A.txt":
                    data = data[:-1] + b"9"
                zf.writestr(f"MUTAG/{path.name}", data)
        return buffer.getvalue()

    url = tu_module.URL.format(name="MUTAG")
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer({url: archive(corrupt=True)}))
    with pytest.raises(DataError, match=r"MUTAG_A\.txt.*SHA-256"):
        load_tu("MUTAG")
    cached = tmp_path / "cache" / "TU" / "MUTAG"
    assert not (cached / "MUTAG_A.txt").exists()
    assert not any(p.name.endswith(".part") for p in cached.iterdir())
    assert not (cached / "MUTAG.zip").exists()  # the bad archive is not kept either
    server = FakeServer({url: archive(corrupt=False)})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    assert len(load_tu("MUTAG").graphs) == 188
    assert server.calls == [tu_module.URL.format(name="MUTAG")]
    assert not (cached / "MUTAG.zip").exists()


# ---------------------------------------------------------------- cross-validation


@pytest.mark.parametrize("seed", [0, 3])
def test_folds_are_stratified_disjoint_and_cover_every_graph(seed):
    labels = np.array([0] * 63 + [1] * 125)
    np.random.default_rng(seed).shuffle(labels)
    folds = stratified_folds(labels, 10, seed)
    everything = np.concatenate(folds)
    assert sorted(everything.tolist()) == list(range(len(labels)))  # disjoint and covering
    for fold in folds:
        counts = np.bincount(labels[fold], minlength=2)
        assert abs(counts[0] - 6.3) < 1 and abs(counts[1] - 12.5) < 1
    assert max(map(len, folds)) - min(map(len, folds)) <= 1


def test_validation_is_carved_from_the_training_fold():
    labels = np.array([0] * 40 + [1] * 60)
    tests = []
    for fold in range(5):
        train, validation, test = cv_split(labels, fold, 5, 0.2, seed=1)
        assert not set(train) & set(validation) and not set(test) & (set(train) | set(validation))
        assert len(train) + len(validation) + len(test) == 100
        assert np.bincount(labels[validation]).tolist() == [6, 10]  # 20 % of 32 / 48
        tests.append(test)
    assert sorted(np.concatenate(tests).tolist()) == list(range(100))
    with pytest.raises(ValueError, match="`fold` must be in 0..4"):
        cv_split(labels, 5, 5, 0.2, seed=1)


@pytest.mark.dataset
def test_no_test_fold_graph_is_used_for_model_selection(data_root, monkeypatch, tmp_path):
    """Instrumented: every graph that training batches (train and validation, the model
    selection) is recorded; none of the fold's test graphs is among them, and the test
    graphs are only batched by the final evaluation."""
    import hogwild.train._fit as fit_module
    from hogwild.train import RunConfig, TrainConfig, train_run

    monkeypatch.setenv("HOGWILD_DATA", str(data_root))
    data = make_task("mutag", MutagConfig(fold=3))
    test_ids = {id(g) for g in data.test}
    seen: list[set] = []
    real = fit_module.make_batches

    def recording(graphs, *args, **kwargs):
        seen.append({id(g) for g in graphs})
        return real(graphs, *args, **kwargs)

    monkeypatch.setattr(fit_module, "make_batches", recording)
    config = RunConfig("mutag", "gcn", {"fold": 3}, TrainConfig(epochs=2, patience=2))
    metrics = train_run(config, tmp_path / "run")
    assert "test" in metrics and len(seen) >= 3
    selection, final = seen[:2], seen[2:]
    assert all(not (ids & test_ids) for ids in selection), "a test graph was used in training"
    assert any(ids == test_ids for ids in final), "the test fold was not evaluated at the end"


def test_no_test_fold_graph_is_used_by_runs_trained_in_one_program(
    data_root, monkeypatch, tmp_path
):
    """Instrumented, the path `reproduce table3` takes: two seeds of a stacked family
    (GCN) trained together in one program by `run_cell`. Every graph batched outside the
    final evaluation of the selected models is recorded: none is a test graph; the final
    evaluations batch the test fold whole."""
    import hogwild.train._batch as batch_module
    import hogwild.train._fit as fit_module
    import hogwild.train._run as run_module
    from hogwild.experiments._table1 import Protocol, run_cell

    monkeypatch.setenv("HOGWILD_DATA", str(data_root))
    test_ids = {id(g) for g in make_task("mutag", MutagConfig(fold=0)).test}
    seen: list[tuple[bool, set]] = []
    final = [False]
    real_batches, real_evaluate = batch_module.make_batches, run_module.evaluate

    def recording(graphs, *args, **kwargs):
        seen.append((final[0], {id(g) for g in graphs}))
        return real_batches(graphs, *args, **kwargs)

    def evaluating(*args, **kwargs):
        final[0] = True
        try:
            return real_evaluate(*args, **kwargs)
        finally:
            final[0] = False

    monkeypatch.setattr(batch_module, "make_batches", recording)
    monkeypatch.setattr(fit_module, "make_batches", recording)
    monkeypatch.setattr(run_module, "evaluate", evaluating)
    protocol = Protocol("leak", 1, 2, epochs=2, patience=2, task_options={}, fold_option="fold")
    rows = run_cell("mutag", "gcn", protocol, tmp_path / "runs", tmp_path / "t.jsonl")
    assert len(rows) == 2 and all(r["trained_with"] == 2 for r in rows)  # one program
    training = [ids for at_end, ids in seen if not at_end]
    assert training and all(not (ids & test_ids) for ids in training), "test graph in training"
    assert sum(ids == test_ids for at_end, ids in seen if at_end) == 2  # each run, at the end
