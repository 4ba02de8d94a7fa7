"""Several run directories trained together: `train_runs` (``hogwild train --seeds``,
``hogwild reproduce table1``).

Each run directory is exactly what `train_run` writes (config, checkpoints, state,
history, metrics): a run trained in a group can be evaluated, resumed or re-trained alone.
Runs whose batches have the same padded shapes and that continue from the same epoch are
trained as one `fit_group`; the others form groups of their own.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from ..tasks import make_task
from ._checkpoint import write_json
from ._fit import fit, initial_state
from ._group import GroupHooks, batch_signature, fit_group
from ._run import (
    RunConfig,
    _check_precision,
    _finish,
    _resumed_state,
    _saver,
    build_model,
    finish_evaluation,
    model_spec,
)
from ._rundir import claim_run_dir, evaluation_pending, held_run_dirs
from ._starts import chosen_start


def _check_groupable(configs: Sequence[RunConfig]) -> None:
    """Runs of a group differ only in their parameter seed and task options (folds)."""
    first = configs[0]
    for config in configs[1:]:
        same = (
            config.task == first.task
            and config.model == first.model
            and config.model_options == first.model_options
            and dataclasses.replace(config.train, seed=0)
            == dataclasses.replace(first.train, seed=0)
        )
        if not same:
            raise ValueError(
                "runs trained together must share task, model, model and training options "
                f"(all but the seed and the task options); {config.model} on {config.task} "
                f"differs from {first.model} on {first.task}."
            )


@dataclasses.dataclass
class _Member:
    config: RunConfig
    out: Path
    data: object
    spec: dict
    state: object


def _members(configs, outs, modes, log) -> list[_Member]:
    datasets, members = {}, []
    for config, out, mode in zip(configs, outs, modes):
        key = json.dumps(config.task_options, sort_keys=True)
        if key not in datasets:
            datasets[key] = make_task(config.task, config.task_config())
        data = datasets[key]
        spec = model_spec(config, data)
        skeleton = initial_state(build_model(spec, config.train.seed), data, config.train)
        state = _resumed_state(out, skeleton, spec, log) if mode == "resume" else None
        members.append(_Member(config, out, data, spec, state or skeleton))
    return members


#: Families whose runs are stacked into one program by default on a CPU. Measured with
#: ``bench/train.py`` (10 seeds, chains batch of 896 nodes, 2-core CPU): stacking gives
#: 1.6x for GCN and ~1.2x for IGNN, but 0.48x for the energy GNN under L-BFGS — optax's
#: zoom line search is full of ``lax.cond``s, which ``vmap`` turns into selects that run
#: both branches — and 0.70x under Newton (``bench/train.py --newton-stack 10``: 41.8 ms
#: per run and epoch stacked, 29.2 ms one by one; session 40, alone on a CPU). Energy runs
#: go one after another (each by `fit`, `_fit_alone`), or side by side in ``workers``
#: processes.
STACKED_ON_CPU = ("fixed-point", "explicit")


def stacks(family: str) -> bool:
    """Whether runs of a model ``family`` are stacked into one program by default."""
    import jax

    return jax.default_backend() != "cpu" or family in STACKED_ON_CPU


def _groups(members: list[_Member], stack: bool, skip=frozenset()) -> list[list[int]]:
    """Indices of the members not in ``skip`` grouped by (epoch to continue from, batch
    shapes); one member per group unless ``stack``."""
    kept = [i for i in range(len(members)) if i not in skip]
    if not stack:
        return [[i] for i in kept]
    groups: dict = {}
    signatures: dict = {}
    for i in kept:
        m = members[i]
        if id(m.data) not in signatures:
            signatures[id(m.data)] = batch_signature(m.data, m.config.train)
        groups.setdefault((m.state.epoch, signatures[id(m.data)]), []).append(i)
    return list(groups.values())


@dataclasses.dataclass(frozen=True)
class RunsOptions:
    """How `train_runs` trains: callbacks (``progress(epoch, {i: record})``,
    ``finished(i, metrics)``, ``log(message)``), checkpoint frequency, whether runs are
    ``stack``-ed into one program (None: `stacks` of the model's family; never under a
    spike guard) and how many ``workers`` processes train groups side by side (1: in this
    process)."""

    progress: Callable[[int, dict], None] | None = None
    finished: Callable[[int, dict], None] | None = None
    log: Callable[[str], None] | None = None
    checkpoint_every: int | None = None
    checkpoint_seconds: float = 120.0
    stack: bool | None = None
    workers: int = 1


def train_runs(
    configs: Sequence[RunConfig],
    outs: Sequence[str | Path],
    options: RunsOptions = RunsOptions(),
    *,
    modes: Sequence[str] | str = "new",
) -> list[dict | None]:
    """Train ``configs[i]`` into directory ``outs[i]`` for every i, in as few compiled
    programs as the data allow (`fit_group`) and in ``options.workers`` processes; return
    each run's metrics.

    ``modes``: one mode of `train_run` ("new", "overwrite", "resume") for all runs, or one
    per run; every directory is claimed (and held, `held_run_dirs`) before any work.
    ``options.finished(i, metrics)`` is called as soon as run i is saved and evaluated
    (with workers: when its group is).
    On Ctrl-C every active run is saved as interrupted (resumable) and KeyboardInterrupt
    propagates; the metrics of runs not reached are None.
    """
    configs, outs = list(configs), [Path(o) for o in outs]
    modes = [modes] * len(configs) if isinstance(modes, str) else list(modes)
    if options.workers < 1:
        raise ValueError(f"workers must be >= 1; got {options.workers}.")
    _check_groupable(configs)
    with held_run_dirs(outs):
        outs = [claim_run_dir(o, c.to_json(), m) for o, c, m in zip(outs, configs, modes)]
        for out, config, mode in zip(outs, configs, modes):
            if mode != "resume":
                write_json(out / "config.json", config.to_json())
        modes = ["resume" if m == "resume" else "fresh" for m in modes]
        return train_claimed(configs, outs, modes, options)


def train_claimed(configs, outs, modes, options: RunsOptions) -> list[dict | None]:
    """`train_runs` on directories already claimed, holding their config.json; ``modes``
    "resume" (continue from state.eqx when there is one) or "fresh"."""
    _check_precision(configs[0])
    members = _members(configs, outs, modes, options.log)
    results = _evaluate_pending(members, options)
    family = members[0].state.model.family
    stack = options.stack
    if stack is None:
        stack = stacks(family)
    if configs[0].train.spike_guard is not None:  # the guard rolls back one run at a time
        stack = False
    done = {i for i, r in enumerate(results) if r is not None}
    groups = _groups(members, stack, skip=done)
    if options.workers > 1 and len(groups) > 1:
        from ._pool import train_in_workers

        trained = train_in_workers(configs, outs, modes, groups, options)
        return [r if i in done else t for i, (r, t) in enumerate(zip(results, trained))]
    for group in groups:
        _train_group([members[i] for i in group], group, results, options)
    return results


def _evaluate_pending(members: list[_Member], options: RunsOptions) -> list[dict | None]:
    """Metrics of the members whose training had finished but whose final evaluation was
    killed (evaluated now, `finish_evaluation`), None for the others."""
    results: list[dict | None] = [None] * len(members)
    for i, m in enumerate(members):
        stopped = evaluation_pending(m.out)
        if stopped is not None:
            metrics = finish_evaluation(
                m.out, m.state, stopped, m.data, m.spec, m.config, options.log
            )
            results[i] = {**metrics, "trained_with": 1}
            if options.finished is not None:
                options.finished(i, results[i])
    return results


def _train_group(group, indices, results, options: RunsOptions) -> None:
    """Train the members of a group (after choosing each fresh member's initialisation
    when it has several starts, `chosen_start`) in one program per epoch they continue
    from."""
    for m, i in zip(group, indices):
        if m.state.epoch == 0:
            progress = _member_progress(options.progress, i)
            m.state = (
                chosen_start(m.config, m.out, m.data, m.spec, options.log, progress) or m.state
            )
    by_epoch: dict[int, list[int]] = {}
    for j, m in enumerate(group):
        by_epoch.setdefault(m.state.epoch, []).append(j)
    for js in by_epoch.values():
        _fit_members([group[j] for j in js], [indices[j] for j in js], results, options)


def _member_progress(progress, i: int):
    """Run i's records as `RunsOptions.progress` calls (None: no progress)."""
    if progress is None:
        return None
    return lambda record: progress(record["epoch"], {i: record})


def _fit_members(group, indices, results, options: RunsOptions) -> None:
    log, progress = options.log, options.progress

    def done(j: int, result) -> None:
        m = group[j]
        metrics = _finish(m.out, result, m.data, m.spec, m.config, log)
        results[indices[j]] = {**metrics, "trained_with": len(group)}
        if options.finished is not None:
            options.finished(indices[j], results[indices[j]])

    savers = [_saver(m.out, m.spec, m.config, log) for m in group]
    hooks = GroupHooks(
        finished=done,
        checkpoint=lambda j, state: savers[j](state),
        checkpoint_every=options.checkpoint_every,
        seconds=options.checkpoint_seconds,
        progress=None
        if progress is None
        else (lambda epoch, records: progress(epoch, {indices[j]: r for j, r in records.items()})),
    )
    if log is not None and len(group) > 1:
        log(
            f"training {len(group)} runs of {group[0].config.model} on {group[0].config.task} "
            "in one program (compiling first; a repeated command loads it from the cache)"
        )
    if len(group) == 1:  # never a vmap over one run: its solver loops would pay for it
        _fit_alone(group, hooks)
        return
    fit_group(
        [m.state.model for m in group],
        [m.data for m in group],
        group[0].config.train,
        hooks,
        states=[m.state for m in group],
    )


def _fit_alone(group, hooks: GroupHooks) -> None:
    """Train the one member of ``group`` by `fit`, with `fit_group`'s ``hooks``; Ctrl-C
    hands it over as interrupted and propagates, as in `fit_group`.

    A group of one is never `fit_group`'s: under ``vmap``, even over one member, every
    ``lax.cond`` of a solver loop becomes a select that runs both branches, and an L-BFGS
    energy run took 2.99x `fit`'s time per epoch at the same solver steps (`python
    bench/train.py --one-run`, alone on a CPU). Runs with a spike guard, which `fit_group` does not
    stack, are always alone (`train_claimed`)."""
    (m,) = group
    progress = hooks.progress
    result = fit(
        m.state.model,
        m.data,
        m.config.train,
        None if progress is None else (lambda record: progress(record["epoch"], {0: record})),
        state=m.state,
        checkpoint=None if hooks.checkpoint is None else (lambda s: hooks.checkpoint(0, s)),
        checkpoint_every=hooks.checkpoint_every,
        checkpoint_seconds=hooks.seconds,
    )
    hooks.finished(0, result)
    if result.stopped.startswith("interrupted"):
        raise KeyboardInterrupt
