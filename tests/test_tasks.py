"""The chains task: definition, balance, seeded splits."""

import numpy as np
import pytest

from hogwild.tasks import ChainsConfig, make_chains, make_task, split_indices


def test_chains_class_only_in_head_node():
    data = make_chains(ChainsConfig(num_graphs=9, length=7, num_classes=3))
    for g in data.train + data.validation + data.test:
        label = int(g.node_targets[0, 0])
        expected = np.zeros((7, 3))
        expected[0, label] = 1.0
        np.testing.assert_array_equal(g.nodes, expected)
        np.testing.assert_array_equal(g.node_targets[:, 0], label)
        assert sorted(zip(g.senders.tolist(), g.receivers.tolist())) == sorted(
            [(i, i + 1) for i in range(6)] + [(i + 1, i) for i in range(6)]
        )
    assert data.kind == "multiclass" and data.out_size == 3


def test_chains_binary_and_balanced():
    data = make_chains(ChainsConfig(num_graphs=40, length=5))
    labels = [int(g.node_targets[0, 0]) for g in data.train + data.validation + data.test]
    assert data.kind == "binary" and data.out_size == 1
    assert labels.count(0) == labels.count(1) == 20
    assert (len(data.train), len(data.validation), len(data.test)) == (24, 8, 8)
    for split in (data.train, data.validation, data.test):
        heads = [int(g.node_targets[0, 0]) for g in split]
        assert heads.count(0) == heads.count(1), "every split is stratified by class"


def test_chains_split_depends_on_seed_only():
    def heads(seed):
        d = make_chains(ChainsConfig(num_graphs=30, length=3, seed=seed))
        return [int(g.node_targets[0, 0]) for g in d.test]

    assert heads(1) == heads(1)
    assert any(heads(1) != heads(s) for s in range(2, 6))


def test_split_indices_partition():
    tr, va, te = split_indices(10, (0.6, 0.2, 0.2), seed=3)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="sum"):
        split_indices(10, (0.5, 0.2, 0.2), seed=0)


@pytest.mark.parametrize("bad", [dict(length=1), dict(num_classes=1), dict(num_graphs=5)])
def test_chains_config_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        ChainsConfig(**bad)


def test_make_task_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="unknown task 'nope'; valid: chains"):
        make_task("nope")
