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
from ._fit import initial_state
from ._group import GroupHooks, batch_signature, fit_group
from ._run import (
    RunConfig,
    _check_precision,
    _finish,
    _resumed_state,
    _saver,
    build_model,
    model_spec,
)
from ._rundir import claim_run_dir


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


def _groups(members: list[_Member]) -> list[list[int]]:
    """Member indices grouped by (epoch to continue from, batch shapes)."""
    groups: dict = {}
    signatures: dict = {}
    for i, m in enumerate(members):
        if id(m.data) not in signatures:
            signatures[id(m.data)] = batch_signature(m.data, m.config.train)
        groups.setdefault((m.state.epoch, signatures[id(m.data)]), []).append(i)
    return list(groups.values())


def train_runs(
    configs: Sequence[RunConfig],
    outs: Sequence[str | Path],
    progress: Callable[[int, dict], None] | None = None,
    *,
    modes: Sequence[str] | str = "new",
    checkpoint_every: int | None = None,
    checkpoint_seconds: float = 120.0,
    log=None,
    finished: Callable[[int, dict], None] | None = None,
) -> list[dict | None]:
    """Train ``configs[i]`` into directory ``outs[i]`` for every i, in as few compiled
    programs as the data allow (`fit_group`); return each run's metrics.

    ``modes``: one mode of `train_run` ("new", "overwrite", "resume") for all runs, or one
    per run; every directory is claimed before any work. ``finished(i, metrics)`` is called
    as soon as run i is saved and evaluated; ``progress(epoch, {i: history record})`` at
    evaluated epochs. On Ctrl-C every active run is saved as interrupted (resumable) and
    KeyboardInterrupt propagates; the metrics of runs not reached are None.
    """
    configs, outs = list(configs), [Path(o) for o in outs]
    modes = [modes] * len(configs) if isinstance(modes, str) else list(modes)
    _check_groupable(configs)
    outs = [claim_run_dir(o, c.to_json(), m) for o, c, m in zip(outs, configs, modes)]
    for out, config, mode in zip(outs, configs, modes):
        if mode != "resume":
            write_json(out / "config.json", config.to_json())
    _check_precision(configs[0])
    members = _members(configs, outs, modes, log)
    results: list[dict | None] = [None] * len(members)
    for group in _groups(members):
        _train_group(
            [members[i] for i in group],
            group,
            results,
            progress,
            finished,
            log,
            checkpoint_every,
            checkpoint_seconds,
        )
    return results


def _train_group(group, indices, results, progress, finished, log, every, seconds) -> None:
    def done(j: int, result) -> None:
        m = group[j]
        results[indices[j]] = _finish(m.out, result, m.data, m.spec, m.config, log)
        if finished is not None:
            finished(indices[j], results[indices[j]])

    savers = [_saver(m.out, m.spec, m.config, log) for m in group]
    hooks = GroupHooks(
        finished=done,
        checkpoint=lambda j, state: savers[j](state),
        checkpoint_every=every,
        seconds=seconds,
        progress=None
        if progress is None
        else (lambda epoch, records: progress(epoch, {indices[j]: r for j, r in records.items()})),
    )
    if log is not None:
        log(
            f"training {len(group)} runs of {group[0].config.model} on {group[0].config.task} "
            "in one program (compiling first; a repeated command loads it from the cache)"
        )
    fit_group(
        [m.state.model for m in group],
        [m.data for m in group],
        group[0].config.train,
        hooks,
        states=[m.state for m in group],
    )
