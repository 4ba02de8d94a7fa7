"""``hogwild train --seeds 0-4``: several parameter seeds trained in one compiled program
(`hogwild.train.train_runs`), each into its own run directory ``OUT/seed-S``."""

from __future__ import annotations

import dataclasses
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np

MAX_SEEDS = 64


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,3,7"`` -> [0, 3, 7]; ranges and lists combine
    (``"0-2,9"``). Seeds are distinct, non-negative and at most `MAX_SEEDS` of them."""
    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise ValueError(f"--seeds expects e.g. 0-4 or 0,3,7; got {text!r}.")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low:
            raise ValueError(f"--seeds: empty range {part.strip()!r} in {text!r}.")
        seeds.extend(range(low, high + 1))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: a seed appears twice in {text!r}.")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"--seeds: at most {MAX_SEEDS} seeds in one group; got {len(seeds)}.")
    return seeds


def _configs(args, seeds: list[int]) -> list:
    from .cli import _run_config

    out = Path(args.out)
    configs = []
    for seed in seeds:
        config = _run_config(args, out / f"seed-{seed}")
        train = dataclasses.replace(config.train, seed=seed)
        configs.append(dataclasses.replace(config, train=train))
    return configs


def group_progress(total: int, every: int = 100):
    """A `train_runs` progress callback: one line at epoch 1, every ``every`` epochs and
    at least every 5 s (30 s when ``every`` > 100): runs still training, the best and
    median validation metric, mean solver steps, ETA at the pace since the group's first
    line. A cell trains its runs in several groups one after another, each from its own
    epoch (1, or where a resumed run stopped) and training time: an epoch that does not
    follow the last one starts a new group, and its pace is measured afresh."""
    state = {"last": time.perf_counter(), "first": None, "epoch": None}

    def show(epoch: int, records: dict) -> None:
        if not records:
            return
        now = time.perf_counter()
        seconds = max(r["seconds"] for r in records.values())
        if state["first"] is None or state["epoch"] is None or epoch <= state["epoch"]:
            state["first"] = (epoch, seconds)
        state["epoch"] = epoch
        switched = any("solver" in r for r in records.values())  # always shown
        throttled = now - state["last"] < (5 if every <= 100 else 30)
        if epoch != 1 and epoch % every and throttled and not switched:
            return
        state["last"] = now
        values = [_metric_of(r) for r in records.values()]
        steps = np.mean([r["solver_steps"] for r in records.values()])
        adjoint = np.mean([r["adjoint_steps"] for r in records.values()])
        e0, s0 = state["first"]
        eta = (total - epoch) * (seconds - s0) / (epoch - e0) if epoch > e0 else 0.0
        print(
            f"epoch {epoch:5d}  training {len(records)} runs  validation best "
            f"{min(values):.4f} median {np.median(values):.4f}  steps: solve {steps:.1f}, "
            f"adjoint {adjoint:.1f}  {seconds:.0f}s"
            + (f"  ETA {eta / 60:.0f} min" if eta >= 120 else f"  ETA {eta:.0f}s" if eta else "")
            + ("  (L-BFGS outpaced: newton from now on)" if switched else ""),
            file=sys.stderr,
            flush=True,
        )

    return show


def _metric_of(record: dict) -> float:
    from .train._objective import validation_key

    return record[validation_key(record)]


def train_seeds(args) -> int:
    """Train ``--seeds`` into ``--out/seed-S``; print each run's test metric and their mean
    ± std; exit 3 if any run diverged, 130 if interrupted."""
    from .cli import _interrupt, _log, _train_ending
    from .train import RunsOptions, train_runs

    seeds = parse_seeds(args.seeds)
    configs = _configs(args, seeds)
    signal.signal(signal.SIGTERM, _interrupt)
    out = Path(args.out)
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
    progress = None if args.quiet else group_progress(configs[0].train.epochs)

    def finished(i: int, metrics: dict) -> None:
        if "test" in metrics:
            key = metrics["primary_metric"]
            _log(
                f"seed {seeds[i]}: {metrics['stopped']} (best epoch {metrics['best_epoch']}); "
                f"test {key} {metrics['test'][key]:.4f}"
            )

    outs = [out / f"seed-{s}" for s in seeds]
    try:
        options = RunsOptions(progress, finished, _log, args.checkpoint_every, workers=args.workers)
        results = train_runs(configs, outs, options, modes=mode)
    except KeyboardInterrupt:
        _log(f"interrupted; continue with: hogwild train --out {out} --seeds {args.seeds} --resume")
        return 130
    return _summary(results, seeds, outs, _train_ending)


def _summary(results, seeds, outs, ending) -> int:
    codes = [ending(m, o) for m, o in zip(results, outs)]
    tested = [m for m in results if "test" in m]
    if tested:
        key = tested[0]["primary_metric"]
        values = [m["test"][key] for m in tested]
        print(
            f"test {key} over {len(values)} seeds ({', '.join(map(str, seeds))}): "
            f"{np.mean(values):.4f} ± {np.std(values):.4f}"
        )
    return max(codes, key=lambda c: (c == 130, c == 3))
