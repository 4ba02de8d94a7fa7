"""MNIST: the checked IDX loader (local files, errors, download) and the terrain task."""

from __future__ import annotations

import gzip
import shutil
import struct
import urllib.error
import urllib.request
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from _support import FakeServer, missing_data, shared_data_root

from hogwild.data import DataError, load_mnist
from hogwild.data import mnist as mnist_module
from hogwild.tasks import mnist_terrain as terrain
from hogwild.tasks.mnist_terrain import (
    MnistTerrainConfig,
    make_mnist_terrain,
    resize_area,
    terrain_graphs,
)

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="module")
def data_root() -> Path:
    root = shared_data_root()
    if not all((root / "MNIST" / f"{name}.gz").is_file() for name in mnist_module.FILES):
        missing_data(f"MNIST files not found in {root / 'MNIST'} (set HOGWILD_DATA)")
    return root


@pytest.fixture
def test_copy(data_root, tmp_path) -> Path:
    """tmp_path/MNIST/ holding copies of the real test-split files; returns tmp_path."""
    (tmp_path / "MNIST").mkdir()
    for name in TEST_FILES:
        shutil.copy(data_root / "MNIST" / name, tmp_path / "MNIST" / name)
    return tmp_path


# ---------------------------------------------------------------- loader on the real files


@pytest.mark.dataset
def test_load_train_shapes_and_class_counts(data_root):
    images, labels = load_mnist("train", root=data_root)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == TRAIN_COUNTS
    assert images.max() == 255 and abs(images.mean() / 255 - 0.1306604763) < 1e-9


@pytest.mark.dataset
def test_load_test_shapes_and_class_counts(data_root):
    images, labels = load_mnist("test", root=data_root)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert np.bincount(labels).tolist() == TEST_COUNTS


@pytest.mark.dataset
def test_load_is_cached_read_only_and_follows_hogwild_data(data_root, monkeypatch):
    first = load_mnist("test", root=data_root)
    monkeypatch.setenv("HOGWILD_DATA", str(data_root))
    second = load_mnist("test")
    assert all(a is b for a, b in zip(first, second)), "same files: served from memory"
    assert not first[0].flags.writeable and not first[1].flags.writeable


@pytest.mark.dataset
def test_uncompressed_files_are_accepted(test_copy):
    for name in TEST_FILES:
        gz = test_copy / "MNIST" / name
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    images, labels = load_mnist("test", root=test_copy)
    assert images.shape == (10000, 28, 28) and np.bincount(labels).tolist() == TEST_COUNTS


# ------------------------------------------------------------------------------- errors


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown MNIST split 'valid'"):
        load_mnist("valid", root="/nonexistent")


def test_missing_file_names_it_and_the_fix(tmp_path):
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz not found.*HOGWILD_DATA"):
        load_mnist("test", root=tmp_path)


@pytest.mark.dataset
def test_truncated_gzip_is_a_data_error(test_copy):
    path = test_copy / "MNIST" / TEST_FILES[0]
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: truncated gzip") as err:
        load_mnist("test", root=test_copy)
    assert "Delete" in str(err.value) and "HOGWILD_DATA" in str(err.value)


def test_not_gzip_is_a_data_error(tmp_path):
    (tmp_path / "MNIST").mkdir()
    for name in TEST_FILES:
        (tmp_path / "MNIST" / name).write_bytes(b"<html>404 not found</html>")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: not a valid gzip"):
        load_mnist("test", root=tmp_path)


@pytest.mark.dataset
def test_corrupt_content_fails_the_checksum(test_copy):
    path = test_copy / "MNIST" / TEST_FILES[0]
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[5000] ^= 0xFF  # one pixel: header and length stay valid
    path.write_bytes(gzip.compress(bytes(content), compresslevel=1))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: MD5 checksum") as err:
        load_mnist("test", root=test_copy)
    assert "2646ac647ad5339dbf082846283269ea" in str(err.value)


@pytest.mark.dataset
def test_wrong_header_and_short_content(test_copy):
    images, labels = (test_copy / "MNIST" / name for name in TEST_FILES)
    shutil.copy(labels, images)  # a labels file where the images should be
    with pytest.raises(DataError, match=r"images-idx3-ubyte.gz: IDX magic number 2049 \(labels"):
        load_mnist("test", root=test_copy)
    images.write_bytes(gzip.compress(struct.pack(">4I", 2051, 10000, 28, 27)))
    with pytest.raises(
        DataError, match=r"= \(2051, 10000, 28, 27\), expected \(2051, 10000, 28, 28\)"
    ):
        load_mnist("test", root=test_copy)
    images.write_bytes(gzip.compress(struct.pack(">4I", 2051, 10000, 28, 28) + bytes(8)))
    with pytest.raises(DataError, match="24 bytes after decompression, expected 7840016"):
        load_mnist("test", root=test_copy)


@pytest.mark.dataset
def test_short_labels_file_is_rejected(test_copy):
    labels = test_copy / "MNIST" / TEST_FILES[1]
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-10]))
    with pytest.raises(DataError, match="labels-idx1-ubyte.gz: 9998 bytes.*truncated"):
        load_mnist("test", root=test_copy)


# ----------------------------------------------------------------------------- download


@pytest.mark.dataset
def test_download_tries_mirrors_verifies_and_writes_atomically(data_root, tmp_path, monkeypatch):
    monkeypatch.delenv("HOGWILD_DATA", raising=False)
    monkeypatch.setenv("HOGWILD_CACHE", str(tmp_path))
    s3, gcs, lecun = mnist_module.MIRRORS
    real = {name: (data_root / "MNIST" / name).read_bytes() for name in TEST_FILES}
    bad = bytearray(gzip.decompress(real[TEST_FILES[0]]))
    bad[-1] ^= 0xFF
    server = FakeServer(
        {
            # images: first mirror unreachable, second serves corrupt content, third is good
            gcs + TEST_FILES[0]: gzip.compress(bytes(bad), compresslevel=1),
            lecun + TEST_FILES[0]: real[TEST_FILES[0]],
            s3 + TEST_FILES[1]: real[TEST_FILES[1]],
        }
    )
    monkeypatch.setattr(urllib.request, "urlopen", server)
    images, labels = load_mnist("test")
    assert server.calls == [s3 + TEST_FILES[0], gcs + TEST_FILES[0], lecun + TEST_FILES[0]] + [
        s3 + TEST_FILES[1]
    ]
    assert np.bincount(labels).tolist() == TEST_COUNTS and images.shape == (10000, 28, 28)
    assert sorted(p.name for p in (tmp_path / "MNIST").iterdir()) == sorted(TEST_FILES)
    for name in TEST_FILES:
        assert (tmp_path / "MNIST" / name).read_bytes() == real[name]
    server.calls.clear()
    load_mnist("test")
    assert server.calls == [], "files in the cache are not downloaded again"


def test_download_failure_lists_every_mirror_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("HOGWILD_DATA", raising=False)
    monkeypatch.setenv("HOGWILD_CACHE", str(tmp_path))
    s3 = mnist_module.MIRRORS[0]
    server = FakeServer({s3 + TEST_FILES[0]: gzip.compress(b"\x00\x00\x08\x03 too short")})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    with pytest.raises(DataError, match="could not download t10k-images-idx3-ubyte.gz") as err:
        load_mnist("test")
    message = str(err.value)
    assert all(mirror in message for mirror in mnist_module.MIRRORS)
    assert "shorter than the 16-byte IDX header" in message and "no route to host" in message
    assert list((tmp_path / "MNIST").iterdir()) == [], "no partial file is left behind"


# ------------------------------------------------------------------------------- resize


def test_resize_constant_stays_constant():
    out = resize_area(np.full((28, 28), 77, np.uint8), 10)
    np.testing.assert_allclose(out, 77.0, rtol=0, atol=1e-12)


def test_resize_integer_factor_is_block_mean():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(28, 28))
    expected = image.reshape(14, 2, 14, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(resize_area(image, 14), expected, atol=1e-12)
    blocks = np.kron(np.arange(100).reshape(10, 10), np.ones((3, 3)))  # 30x30 3x3 blocks
    np.testing.assert_allclose(resize_area(blocks, 10), np.arange(100).reshape(10, 10))


def test_resize_28_to_10_is_exact_area_average():
    """28 -> 10 equals upsampling 5x (140x140) then averaging 14x14 blocks."""
    image = np.random.default_rng(1).integers(0, 256, size=(3, 28, 28))
    fine = image.repeat(5, axis=1).repeat(5, axis=2)
    expected = fine.reshape(3, 10, 14, 10, 14).mean(axis=(2, 4))
    out = resize_area(image, 10)
    np.testing.assert_allclose(out, expected, atol=1e-9)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), image.mean(axis=(1, 2)), atol=1e-9)


# ------------------------------------------------------------------- terrain (synthetic)


@pytest.fixture(scope="module")
def fake_mnist():
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(1000, 28, 28)).astype(np.uint8), rng.integers(0, 10, 1000)


def _pairs(g):
    return sorted(zip(g.senders.tolist(), g.receivers.tolist()))


def test_terrain_graphs_are_deterministic_under_the_seed(fake_mnist):
    config = MnistTerrainConfig(num_graphs=20)
    (g1, s1), (g2, s2) = terrain_graphs(*fake_mnist, config), terrain_graphs(*fake_mnist, config)
    np.testing.assert_array_equal(s1, s2)
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a.nodes, b.nodes)
        assert _pairs(a) == _pairs(b)
    g3, s3 = terrain_graphs(*fake_mnist, MnistTerrainConfig(num_graphs=20, seed=1))
    assert not np.array_equal(s1, s3)
    assert any(not np.array_equal(a.nodes[:, :2], b.nodes[:, :2]) for a, b in zip(g1, g3))


def test_terrain_graph_definition(fake_mnist):
    """Features, targets, edges (distance <= radius, both directions) and connectivity."""
    images, labels = fake_mnist
    config = MnistTerrainConfig(num_graphs=60)
    graphs, sources = terrain_graphs(images, labels, config)
    assert len(graphs) == 60 and len(set(sources.tolist())) == 60
    assert [int(labels[s]) for s in sources] == [0] * 30 + [1] * 30
    small = resize_area(images, 10) / 255
    exactly_five = 0
    for g, src in zip(graphs, sources):
        assert g.nodes.shape == (10, 3) and g.nodes.dtype == np.float32
        assert g.nodes.min() >= 0 and g.nodes.max() <= 1
        coords = np.rint(g.nodes[:, :2] * 9).astype(int)
        np.testing.assert_allclose(g.nodes[:, :2] * 9, coords, atol=1e-5)
        assert len({tuple(c) for c in coords.tolist()}) == 10, "agents on distinct pixels"
        np.testing.assert_allclose(g.nodes[:, 2], small[src][coords[:, 0], coords[:, 1]], 1e-6)
        np.testing.assert_array_equal(g.node_targets, np.full((10, 1), labels[src]))
        dist = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
        expected = [(i, j) for i in range(10) for j in range(10) if i != j and dist[i, j] <= 5]
        assert _pairs(g) == expected
        exactly_five += int(np.sum(dist == 5.0))
        assert g.edges.shape == (g.num_edges, 0) and np.all(g.edge_weight == 1)
        graph = nx.Graph(_pairs(g))
        graph.add_nodes_from(range(10))
        assert nx.is_connected(graph)
    assert exactly_five > 0, "pairs exactly 5 apart occur, and are edges"


def test_terrain_other_digits_map_to_class_index(fake_mnist):
    images, labels = fake_mnist
    config = MnistTerrainConfig(num_graphs=11, digits=(8, 3))
    graphs, sources = terrain_graphs(images, labels, config)
    assert [int(labels[s]) for s in sources] == [8] * 5 + [3] * 6
    assert [int(g.node_targets[0, 0]) for g in graphs] == [0] * 5 + [1] * 6


def test_terrain_resamples_until_connected(fake_mnist):
    """Sparse geometry (radius 1.5, 5 agents on 4x4): most draws are disconnected."""
    config = MnistTerrainConfig(num_graphs=30, num_agents=5, size=4, radius=1.5)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(200):
        flat = rng.choice(16, size=5, replace=False)
        c = np.stack([flat // 4, flat % 4], 1)
        adj = np.linalg.norm(c[:, None] - c[None], axis=-1) <= 1.5
        draws.append(nx.is_connected(nx.from_numpy_array(adj.astype(int))))
    assert np.mean(draws) < 0.7, "the check below is not vacuous"
    for g in terrain_graphs(*fake_mnist, config)[0]:
        assert nx.is_connected(nx.Graph(_pairs(g))) and nx.Graph(_pairs(g)).number_of_nodes() == 5


def test_terrain_impossible_geometry_is_reported(fake_mnist, monkeypatch):
    monkeypatch.setattr(terrain, "MAX_TRIES", 20)
    config = MnistTerrainConfig(num_graphs=4, num_agents=40, radius=1.0)
    with pytest.raises(ValueError, match="no connected placement of 40 agents.*radius 1.0"):
        terrain_graphs(*fake_mnist, config)


def test_terrain_too_few_images(fake_mnist):
    with pytest.raises(ValueError, match="needs 200 images of digit 0; only"):
        terrain_graphs(*fake_mnist, MnistTerrainConfig(num_graphs=400))


@pytest.mark.parametrize(
    "bad",
    [
        dict(num_graphs=2),
        dict(size=1),
        dict(num_agents=1),
        dict(num_agents=101),
        dict(radius=0.5),
        dict(digits=(1, 1)),
        dict(digits=(0, 10)),
        dict(fractions=(0.5, 0.2, 0.2)),
    ],
)
def test_terrain_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        MnistTerrainConfig(**bad)


def test_terrain_config_from_json_lists_is_hashable():
    config = MnistTerrainConfig(digits=[3, 8], fractions=[0.8, 0.1, 0.1])
    assert config.digits == (3, 8) and config.fractions == (0.8, 0.1, 0.1)
    assert hash(config) == hash(MnistTerrainConfig(digits=(3, 8), fractions=(0.8, 0.1, 0.1)))


# -------------------------------------------------------------- terrain (real MNIST)


@pytest.mark.dataset
def test_make_mnist_terrain_on_real_mnist(data_root, monkeypatch):
    from hogwild.tasks import TASKS, make_task

    monkeypatch.setenv("HOGWILD_DATA", str(data_root))
    config = MnistTerrainConfig(num_graphs=50, seed=3)
    data = make_task("mnist", config)
    assert TASKS["mnist"] == (MnistTerrainConfig, make_mnist_terrain)
    assert (len(data.train), len(data.validation), len(data.test)) == (30, 10, 10)
    assert (data.name, data.kind, data.level, data.out_size) == ("mnist", "binary", "node", 1)
    assert (data.in_size, data.edge_size) == (3, 0)
    again = make_mnist_terrain(config)
    for a, b in zip(data.train + data.test, again.train + again.test):
        np.testing.assert_array_equal(a.nodes, b.nodes)
    targets = [int(g.node_targets[0, 0]) for g in data.train + data.validation + data.test]
    assert targets.count(0) == targets.count(1) == 25
    images, labels = load_mnist("train", root=data_root)
    graphs, sources = terrain_graphs(images, labels, config)
    assert {g.nodes.tobytes() for g in graphs} == {
        g.nodes.tobytes() for g in data.train + data.validation + data.test
    }
    for g, src in zip(graphs, sources):
        assert labels[src] in (0, 1) and np.all(g.node_targets == labels[src])
    assert np.mean([g.nodes[:, 2].max() for g in graphs]) > 0.3, "agents see the digit's ink"
