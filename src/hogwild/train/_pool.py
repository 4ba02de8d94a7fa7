"""Groups of runs trained side by side in worker processes (`RunsOptions.workers`).

Each worker is a fresh (spawned) Python process pinned to one CPU of its own before it
starts JAX (`hogwild._cpus`: unpinned, two training processes on two cores ran 17-33x
slower than one alone); its compiled programs load from the persistent compilation cache
after the first; it trains whole groups and hands back their metrics. Throughput against
one process: ``bench/train.py``, ``workers_throughput_2``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import signal
import sys
import time

from ._objective import validation_key


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _pin_worker(counter) -> int | None:
    """Pool initializer: pin this worker to the next CPU (one per worker, in order); the CPU."""
    from .._cpus import pin_to_cpu

    with counter.get_lock():
        slot = counter.value
        counter.value += 1
    return pin_to_cpu(slot)


def _worker(configs, outs, modes, indices, checkpoint_every, checkpoint_seconds, label):
    """Train one group in this (worker) process; [(index, metrics)]."""
    from .._cache import enable_compilation_cache
    from ._runs import RunsOptions, train_claimed

    enable_compilation_cache()
    signal.signal(signal.SIGTERM, _interrupt)

    def log(message: str) -> None:
        print(f"[{label}] {message}", file=sys.stderr, flush=True)

    options = RunsOptions(
        log=log,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        progress=_every_minute(log),
    )
    log(f"training {configs[0].model} on {configs[0].task} (compiling first)")
    try:
        results = train_claimed(configs, outs, modes, dataclasses.replace(options, stack=True))
    except KeyboardInterrupt:
        return []
    return list(zip(indices, results))


def _every_minute(log):
    """A progress callback: one line at epoch 1, then every 500 epochs or 60 seconds."""
    last = [time.perf_counter()]

    def show(epoch: int, records: dict) -> None:
        now = time.perf_counter()
        if records and (epoch == 1 or epoch % 500 == 0 or now - last[0] >= 60):
            last[0] = now
            r = next(iter(records.values()))
            key = validation_key(r)
            log(f"epoch {epoch}: {key.split('_', 1)[1]} {r[key]:.4f}, {r['seconds']:.0f}s")

    return show


def train_in_workers(configs, outs, modes, groups, options) -> list:
    """Train every group of ``groups`` (lists of run indices) in ``options.workers``
    processes; ``options.finished`` is called in this process as each group completes."""
    results: list = [None] * len(configs)
    context = multiprocessing.get_context("spawn")
    counter = context.Value("i", 0)
    pool = concurrent.futures.ProcessPoolExecutor(
        options.workers, mp_context=context, initializer=_pin_worker, initargs=(counter,)
    )
    try:
        futures = [
            pool.submit(
                _worker,
                [configs[i] for i in group],
                [outs[i] for i in group],
                [modes[i] for i in group],
                group,
                options.checkpoint_every,
                options.checkpoint_seconds,
                outs[group[0]].name if len(group) == 1 else f"{len(group)} runs",
            )
            for group in groups
        ]
        for future in concurrent.futures.as_completed(futures):
            for index, metrics in future.result():
                results[index] = metrics
                if options.finished is not None and metrics is not None:
                    options.finished(index, metrics)
    except KeyboardInterrupt:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results
