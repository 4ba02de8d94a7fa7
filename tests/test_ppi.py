"""PPI: the DGL-layout loader (local files, errors, download), the multilabel objective
and the ``ppi`` task end to end, all on small fixtures written here in the real layout."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from _support import FakeServer

from hogwild.cli import main
from hogwild.data import DataError, load_ppi
from hogwild.data import ppi as ppi_module
from hogwild.graph import graph_from_edges
from hogwild.tasks import TASKS, PpiConfig, make_ppi, make_task
from hogwild.train import make_batches, metrics_from_sums, primary_metric
from hogwild.train._objective import batch_sums, loss, micro_f1, row_losses

# graph id -> nodes; ids as in the real files (train 1.., then valid, then test)
SIZES = {"train": {1: 7, 2: 5, 3: 12}, "valid": {4: 9}, "test": {5: 6}}


def _pairs_of(n: int, rng) -> set[tuple[int, int]]:
    """A path through all n nodes plus a few random chords, as pairs (a, b), a < b."""
    pairs = {(k, k + 1) for k in range(n - 1)}
    for _ in range(n // 2):
        a, b = sorted(int(v) for v in rng.choice(n, size=2, replace=False))
        pairs.add((a, b))
    return pairs


def _write_split(directory: Path, split: str, sizes: dict, rng, interleave: bool) -> list:
    """Write one split's four files; return per graph (features, labels, local pairs)."""
    graph_id = np.repeat(list(sizes), list(sizes.values())).astype(np.int64)
    if interleave:  # rows of different graphs mixed: ids are renumbered in row order
        graph_id = graph_id[rng.permutation(len(graph_id))]
    n = len(graph_id)
    feats = rng.normal(size=(n, 50))
    labels = rng.integers(0, 2, size=(n, 121))
    expected, links = [], []
    for g in sizes:
        rows = np.flatnonzero(graph_id == g)
        pairs = _pairs_of(len(rows), rng)
        expected.append((feats[rows].astype(np.float32), labels[rows].astype(np.float32), pairs))
        links += [(int(rows[a]), int(rows[b])) for a, b in sorted(pairs)]
    a, b = links[0]
    links += [(b, a), (a, b), (a, a)]  # a reversed duplicate, a repeat, a self-loop
    order = rng.permutation(n)  # the node list need not be sorted
    graph = {
        "directed": False,
        "multigraph": False,
        "graph": {},
        "nodes": [{"id": int(i), "test": split == "test", "val": split == "valid"} for i in order],
        "links": [{"source": s, "target": t} for s, t in links],
    }
    (directory / f"{split}_graph.json").write_text(json.dumps(graph))
    np.save(directory / f"{split}_feats.npy", feats)
    np.save(directory / f"{split}_labels.npy", labels)
    np.save(directory / f"{split}_graph_id.npy", graph_id)
    return expected


def write_ppi(directory: Path, seed: int = 0) -> dict:
    """The DGL layout (``{train,valid,test}_{graph.json,feats.npy,labels.npy,graph_id.npy}``)
    of a tiny PPI in ``directory``; returns what each split must load as."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return {
        split: _write_split(directory, split, sizes, rng, interleave=split == "train")
        for split, sizes in SIZES.items()
    }


@pytest.fixture
def fixture_root(tmp_path) -> tuple[Path, dict]:
    """(data root holding PPI/, the expected graphs per split)."""
    return tmp_path, write_ppi(tmp_path / "PPI")


def _directed(pairs) -> set:
    return {(a, b) for a, b in pairs} | {(b, a) for a, b in pairs}


def _check_split(graphs, expected) -> None:
    assert len(graphs) == len(expected)
    for g, (x, y, pairs) in zip(graphs, expected):
        np.testing.assert_array_equal(g.nodes, x)
        np.testing.assert_array_equal(g.node_targets, y)
        assert g.nodes.dtype == g.node_targets.dtype == np.float32
        assert set(zip(g.senders.tolist(), g.receivers.tolist())) == _directed(pairs)
        assert g.num_edges == 2 * len(pairs), "each pair once per direction"


# ------------------------------------------------------------------------------ loader


def test_round_trip_via_root_and_hogwild_data(fixture_root, monkeypatch):
    root, expected = fixture_root
    for split in ("train", "valid", "test"):
        _check_split(load_ppi(split, root=root), expected[split])
    monkeypatch.setenv("HOGWILD_DATA", str(root))
    graphs = load_ppi("train")
    _check_split(graphs, expected["train"])
    assert graphs[0] is load_ppi("train", root=root)[0], "same files: served from memory"
    assert not graphs[0].nodes.flags.writeable


def test_pyg_raw_folder_is_accepted(tmp_path):
    expected = write_ppi(tmp_path / "PPI" / "raw")
    _check_split(load_ppi("valid", root=tmp_path), expected["valid"])


def test_unknown_split_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="unknown PPI split 'validation'"):
        load_ppi("validation", root=tmp_path)
    with pytest.raises(DataError, match="PPI/test_graph.json not found.*HOGWILD_DATA"):
        load_ppi("test", root=tmp_path)


def _expect_error(root: Path, split: str, match: str) -> None:
    with pytest.raises(DataError, match=match) as err:
        load_ppi(split, root=root)
    message = str(err.value)
    assert "\n" not in message and "HOGWILD_DATA" in message


def test_truncated_files_are_refused(fixture_root):
    root, _ = fixture_root
    graph = root / "PPI" / "test_graph.json"
    graph.write_bytes(graph.read_bytes()[:-20])
    _expect_error(root, "test", "test_graph.json: not valid JSON")
    feats = root / "PPI" / "valid_feats.npy"
    feats.write_bytes(feats.read_bytes()[:-100])
    _expect_error(root, "valid", "valid_feats.npy: not a readable .npy")


def test_inconsistent_arrays_are_refused(fixture_root):
    root, _ = fixture_root
    d = root / "PPI"
    np.save(d / "test_labels.npy", np.ones((5, 121)))
    _expect_error(root, "test", r"test_labels.npy: float64 array of shape \(5, 121\), expected")
    np.save(d / "test_labels.npy", np.full((6, 121), 2))
    _expect_error(root, "test", "test_labels.npy: label 2 is not 0 or 1")
    np.save(d / "valid_feats.npy", np.zeros((9, 49)))
    _expect_error(root, "valid", r"valid_feats.npy: .* shape \(9, 49\), expected .* \(9, 50\)")
    np.save(d / "valid_graph_id.npy", np.full(9, 4.0))
    _expect_error(root, "valid", "valid_graph_id.npy: float64 array .* integer graph ids")


def _rewrite_graph(path: Path, **changes) -> None:
    graph = json.loads(path.read_text())
    graph.update(changes)
    path.write_text(json.dumps(graph))


def test_inconsistent_graph_json_is_refused(fixture_root):
    root, _ = fixture_root
    path = root / "PPI" / "test_graph.json"
    nodes = json.loads(path.read_text())["nodes"]
    _rewrite_graph(path, links=[{"source": 0, "target": 6}])
    _expect_error(root, "test", "test_graph.json: a link names node 6, not one of the 6 nodes")
    _rewrite_graph(path, links=[{"source": 0}])
    _expect_error(root, "test", "test_graph.json: an entry without a numeric 'target'")
    _rewrite_graph(path, nodes=nodes[:-1])
    _expect_error(root, "test", "test_graph.json: its 5 node ids are not 0..5")
    path = root / "PPI" / "train_graph.json"
    graph_id = np.load(root / "PPI" / "train_graph_id.npy")
    a, b = np.flatnonzero(graph_id == 1)[0], np.flatnonzero(graph_id == 2)[0]
    _rewrite_graph(path, links=[{"source": int(a), "target": int(b)}])
    _expect_error(root, "train", f"link \\({min(a, b)}, {max(a, b)}\\) joins graph")


# ---------------------------------------------------------------------------- download


def _zip_of(directory: Path, folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, folder + path.name)
    return buffer.getvalue()


def _blob_id(content: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("HOGWILD_DATA", raising=False)
    monkeypatch.setenv("HOGWILD_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "PPI"


def test_download_with_a_wrong_checksum_leaves_nothing(tmp_path, cache, monkeypatch):
    write_ppi(tmp_path / "src")
    server = FakeServer({ppi_module.URL: _zip_of(tmp_path / "src", "")})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    wrong = f"git blob id of ppi.zip is .*, expected {ppi_module.BLOB_ID}"
    with pytest.raises(DataError, match=wrong):
        load_ppi("test")
    assert server.calls == [ppi_module.URL] and list(cache.iterdir()) == []
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer({}))
    with pytest.raises(DataError, match="could not download .*no route to host"):
        load_ppi("test")
    assert list(cache.iterdir()) == []
    (cache / "ppi.zip").write_bytes(b"PK not the archive")  # a damaged cached copy
    with pytest.raises(DataError, match=f"{cache / 'ppi.zip'}: git blob id .* Delete"):
        load_ppi("test")


@pytest.mark.parametrize("folder", ["", "ppi/"])
def test_download_verifies_extracts_and_is_not_repeated(folder, tmp_path, cache, monkeypatch):
    expected = write_ppi(tmp_path / "src")
    content = _zip_of(tmp_path / "src", folder)
    monkeypatch.setattr(ppi_module, "BLOB_ID", _blob_id(content))
    server = FakeServer({ppi_module.URL: content})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    _check_split(load_ppi("valid"), expected["valid"])
    assert (cache / "ppi.zip").read_bytes() == content
    names = sorted(p.name for p in cache.iterdir())
    assert names == sorted(["ppi.zip", *ppi_module.FILES]), "no temporary file is left"
    (cache / "test_feats.npy").unlink()  # re-extracted from the verified zip, not fetched
    _check_split(load_ppi("test"), expected["test"])
    _check_split(load_ppi("train"), expected["train"])
    assert server.calls == [ppi_module.URL]


# ---------------------------------------------------------------------------- objective


def _batches_of(pred_rows, target_rows, sizes):
    """Node-level batches (one graph each) of the given node counts, with their targets."""
    graphs, start = [], 0
    for n in sizes:
        rows = slice(start, start + n)
        x = np.zeros((n, 1))
        pairs = [(k, k + 1) for k in range(n - 1)]
        graphs.append(
            graph_from_edges(x, pairs, node_targets=target_rows[rows], allow_no_edges=True)
        )
        start += n
    batches = make_batches(graphs, "node", batch_size=1, dtype=np.float64)
    preds, start = [], 0
    for batch, n in zip(batches, sizes):
        pred = np.zeros((batch.graph.num_nodes, pred_rows.shape[1]))
        pred[:n] = pred_rows[start : start + n]
        pred[n:] = 5.0  # padding rows predict positive: they must not count
        preds.append(jnp.asarray(pred))
        start += n
    return batches, preds


def test_micro_f1_over_two_batches_matches_a_hand_count():
    logits = np.array([[2.0, -1.0, 0.5], [-0.5, -2.0, 1.0], [1.0, 1.0, -1.0], [-1.0, 3.0, 0.0]])
    targets = np.array([[1, 0, 0], [1, 0, 1], [0, 1, 0], [0, 1, 1]], np.float64)
    # predicted positive iff logit > 0 (0.0 is negative):
    # row 0: TP 1 (j0), FP 1 (j2); row 1: FN 1 (j0), TP 1 (j2); row 2: FP 1 (j0), TP 1 (j1);
    # row 3: TP 1 (j1), FN 1 (j2)  ->  TP 4, FP 2, FN 2, micro-F1 = 8 / 12
    batches, preds = _batches_of(logits, targets, [3, 1])
    sums = [batch_sums("multilabel", p, b) for p, b in zip(preds, batches)]
    metrics = metrics_from_sums("multilabel", sums)
    assert metrics["micro_f1"] == pytest.approx(8 / 12)
    assert metrics["f1_error"] == pytest.approx(4 / 12)
    assert primary_metric("multilabel") == "f1_error"
    bce = -(targets * np.log(_sigmoid(logits)) + (1 - targets) * np.log(1 - _sigmoid(logits)))
    assert metrics["loss"] == pytest.approx(bce.mean())
    flipped = metrics_from_sums("multilabel", [batch_sums("multilabel", -preds[1], batches[1])])
    assert flipped["micro_f1"] == 0.0  # row 3 negated: TP 0, FP 1 (j0), FN 2
    assert micro_f1(0, 0, 0) == 1.0  # nothing to find, nothing claimed


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_multilabel_loss_is_the_mean_binary_cross_entropy():
    rng = np.random.default_rng(3)
    logits, targets = rng.normal(size=(6, 121)) * 3, rng.integers(0, 2, (6, 121)).astype(float)
    p = _sigmoid(logits)
    by_hand = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean(axis=1)
    rows = row_losses("multilabel", jnp.asarray(logits), jnp.asarray(targets))
    np.testing.assert_allclose(rows, by_hand, rtol=1e-10)
    batches, preds = _batches_of(logits, targets, [6])
    assert float(loss("multilabel", preds[0], batches[0])) == pytest.approx(by_hand.mean())


# --------------------------------------------------------------------------------- task


def test_task_is_registered_and_subsamples_training(fixture_root, monkeypatch):
    root, expected = fixture_root
    monkeypatch.setenv("HOGWILD_DATA", str(root))
    assert TASKS["ppi"] == (PpiConfig, make_ppi)
    data = make_task("ppi")
    assert (data.kind, data.level, data.out_size, data.in_size) == ("multilabel", "node", 121, 50)
    assert [len(s) for s in data.splits().values()] == [3, 1, 1]
    _check_split(data.test, expected["test"])
    small = make_ppi(PpiConfig(max_train_graphs=2))
    assert len(small.train) == 2 and small.train[1] is data.train[1]
    with pytest.raises(ValueError, match="`max_train_graphs` must be >= 1"):
        PpiConfig(max_train_graphs=0)


def test_cli_trains_and_evaluates_ppi(fixture_root, monkeypatch, capsys):
    root, _ = fixture_root
    monkeypatch.setenv("HOGWILD_DATA", str(root))
    out = root / "run"
    args = ["train", "--task", "ppi", "--model", "gcn", "--epochs", "2", "--out", str(out)]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["primary_metric"] == "f1_error" and metrics["epochs_run"] == 2
    for split in ("train", "validation", "test"):
        m = metrics[split]
        assert 0 <= m["micro_f1"] <= 1 and m["f1_error"] == pytest.approx(1 - m["micro_f1"])
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert "validation_f1_error" in history[-1]
    printed = capsys.readouterr()
    assert "test: f1_error" in printed.out and "f1_error" in printed.err
    assert main(["evaluate", "--run", str(out)]) == 0
    again = json.loads((out / "evaluation.json").read_text())
    for split in ("train", "validation", "test"):
        assert again[split]["micro_f1"] == metrics[split]["micro_f1"]
    assert main(["async", "--run", str(out), "--runs", "1", "--graphs", "1"]) == 0
    result = json.loads((out / "async-S4-D3.json").read_text())
    assert result["metric"] == "f1_error" and 0 <= result["sync"]["metric"] <= 1


def test_reproduce_table4_on_the_fixture_resumes(fixture_root, monkeypatch, capsys):
    """`hogwild reproduce table4` with a one-seed protocol: one run on the fixed split (no
    fold option), micro-F1 = 100 − the stored F1 error, the paper's values beside it; a
    rerun trains nothing."""
    from hogwild.experiments import _table4 as t4
    from hogwild.experiments._table1 import Protocol, load_rows

    root, _ = fixture_root
    monkeypatch.setenv("HOGWILD_DATA", str(root))
    tiny = Protocol(
        "tiny", folds=1, seeds=1, epochs=2, patience=2, task_options={}, fold_option=None
    )
    monkeypatch.setitem(t4.PROTOCOLS, "tiny", tiny)
    out, runs = root / "results", root / "runs"
    argv = [
        "reproduce",
        "table4",
        "--protocol",
        "tiny",
        "--cell",
        "ppi:gcn",
        "--out",
        str(out),
        "--runs-dir",
        str(runs),
    ]
    assert main(argv) == 0
    (row,) = load_rows(out / "table4.jsonl")
    config = json.loads((runs / "tiny/ppi/gcn/fold0-seed0/config.json").read_text())
    assert config["task_options"] == {} and row["metric"] == "f1_error"
    table = (out / "table4_table.md").read_text()
    assert f"{100 - row['test']:.1f} ± 0.0 (1, tiny)<br>paper 76.2" in table
    assert "GAT (3 layers) 97.3" in table and (out / "table4.png").is_file()
    assert main(argv) == 0 and len(load_rows(out / "table4.jsonl")) == 1
