"""Checkpoints: round trip, and corrupt / truncated / mismatched files refused."""

import os

import equinox as eqx
import jax
import numpy as np
import pytest

from hogwild.models import make_model
from hogwild.train import CheckpointError, load_checkpoint, save_checkpoint, write_atomic

SPEC = {"model": "energy-edge", "in_size": 2, "edge_size": 0, "out_size": 1}


def _model(seed=0, out_size=1):
    return make_model("energy-edge", 2, 0, out_size, seed=seed)


def _leaves(model):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))]


def test_checkpoint_round_trip(tmp_path):
    model = _model(seed=1)
    save_checkpoint(tmp_path / "c.eqx", model, SPEC)
    loaded = load_checkpoint(tmp_path / "c.eqx", _model(seed=2), SPEC)
    for a, b in zip(_leaves(model), _leaves(loaded)):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_flipped_byte_is_corrupt(tmp_path):
    path = tmp_path / "c.eqx"
    save_checkpoint(path, _model(), SPEC)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path, _model(), SPEC)


def test_checkpoint_truncated_is_corrupt(tmp_path):
    path = tmp_path / "c.eqx"
    save_checkpoint(path, _model(), SPEC)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path, _model(), SPEC)


def test_checkpoint_not_a_checkpoint(tmp_path):
    path = tmp_path / "c.eqx"
    path.write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="not a hogwild checkpoint"):
        load_checkpoint(path, _model(), SPEC)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.eqx", _model(), SPEC)


def test_checkpoint_mismatched_spec_names_the_difference(tmp_path):
    path = tmp_path / "c.eqx"
    save_checkpoint(path, _model(), SPEC)
    with pytest.raises(CheckpointError, match="different model: out_size"):
        load_checkpoint(path, _model(out_size=3), {**SPEC, "out_size": 3})


def test_checkpoint_leaf_shapes_must_fit(tmp_path):
    path = tmp_path / "c.eqx"
    save_checkpoint(path, _model(), SPEC)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(path, _model(out_size=3), SPEC)


def test_write_atomic_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    write_atomic(path, b"old")

    def boom(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
