"""Stratified k-fold cross-validation with a validation split carved from each training fold.

Fold f's test graphs are the f-th of k disjoint, class-balanced parts of the dataset; the
other k − 1 parts are its training fold, from which a class-balanced ``validation_fraction``
is held out for model selection. So every graph is tested exactly once over the k folds,
and no fold ever selects a model on its test graphs (the IGNN reference code reports the
best *test* accuracy over epochs; this protocol does not).
"""

from __future__ import annotations

import numpy as np


def stratified_folds(labels, folds: int, seed: int) -> list[np.ndarray]:
    """k disjoint index sets covering 0..n-1, each holding ⌊n_c/k⌋ or ⌈n_c/k⌉ graphs of
    every class c: each class is shuffled with ``seed`` and dealt round-robin, starting
    where the previous class stopped (so fold sizes differ by at most one)."""
    labels = np.asarray(labels)
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds; got {folds}.")
    if folds > len(labels):
        raise ValueError(f"{folds} folds need at least {folds} graphs; got {len(labels)}.")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(folds)]
    start = 0
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        for k, index in enumerate(members):
            parts[(start + k) % folds].append(int(index))
        start = (start + len(members)) % folds
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


def _stratified_holdout(labels, indices: np.ndarray, fraction: float, seed: int):
    """(kept, held out): about ``fraction`` of ``indices`` per class held out, at least one
    graph overall."""
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels[indices]):
        members = rng.permutation(indices[labels[indices] == c])
        held.extend(members[: int(round(fraction * len(members)))])
    if not held:
        held = [int(rng.choice(indices))]
    held = np.sort(np.array(held, dtype=np.int64))
    return np.setdiff1d(indices, held), held


def cv_split(labels, fold: int, folds: int, validation_fraction: float, seed: int):
    """(train, validation, test) indices of ``fold`` (0-based) of a stratified ``folds``-fold
    cross-validation; validation is carved from the training fold (stratified), never
    from the test fold."""
    if not 0 <= fold < folds:
        raise ValueError(f"`fold` must be in 0..{folds - 1} for {folds} folds; got {fold}.")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"`validation_fraction` must be in (0, 1); got {validation_fraction}.")
    labels = np.asarray(labels)
    parts = stratified_folds(labels, folds, seed)
    test = parts[fold]
    rest = np.sort(np.concatenate([p for k, p in enumerate(parts) if k != fold]))
    train, validation = _stratified_holdout(labels, rest, validation_fraction, seed + 1 + fold)
    return train, validation, test
