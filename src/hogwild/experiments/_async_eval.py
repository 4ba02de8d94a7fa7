"""Synchronous vs. asynchronous inference of a trained run (Table 2 protocol, one model).

For the first ``graphs`` test graphs of a run's task: the synchronous prediction (the
training solver, or the L layers), then ``runs`` simulated hogwild runs with schedule seeds
0..runs−1; per run the task metric, the largest deviation of any prediction from the
synchronous one, whether the residual reached its tolerance, steps and realised staleness.
The decrease in performance is async − sync error (classification, in % points),
async − sync relative RMSE (regression, in % points), as in Table 2, or async − sync
f1_error = 1 − micro-F1 (multilabel, PPI, in % points).
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import jax
import numpy as np

from ..asynchrony import Schedule, certify, check_simulation, simulate
from ..solve import embed
from ..train import cast_model, load_run, make_batch, primary_metric
from ..train._objective import batch_sums, metrics_from_sums, predicted_labels


def _metric(kind: str, pred, batch) -> float:
    return metrics_from_sums(kind, [batch_sums(kind, pred, batch)])[primary_metric(kind)]


def _deviation(pred, sync, batch) -> float:
    rows = np.asarray(batch.mask)
    return float(np.max(np.abs(np.asarray(pred) - np.asarray(sync))[rows]))


def _changed(kind: str, pred, sync, batch) -> float:
    """How much asynchrony changed the answer, over the real rows: the fraction of
    predicted classes (binary, multiclass) or labels (multilabel) that differ from the
    synchronous ones, else the relative size ‖ŷ_async − ŷ_sync‖ / ‖ŷ_sync‖."""
    rows = np.asarray(batch.mask)
    pred, sync = np.asarray(pred)[rows], np.asarray(sync)[rows]
    if kind in ("binary", "multiclass"):
        return float(np.mean(predicted_labels(kind, pred) != predicted_labels(kind, sync)))
    if kind == "multilabel":
        return float(np.mean((pred > 0) != (sync > 0)))
    return float(np.linalg.norm(pred - sync) / max(np.linalg.norm(sync), np.finfo(float).tiny))


class StepTicker:
    """The ``progress`` of `simulate` for a person watching: a line on stderr with the
    run's label, simulated steps, residual and elapsed time, at most every ``every``
    seconds. One instance serves every run (`TICKER`), so the simulation compiles once."""

    def __init__(self, every: float = 10.0):
        self.every, self.label, self.start, self.last = every, "", 0.0, 0.0

    def begin(self, label: str) -> None:
        self.label, self.start = label, time.perf_counter()
        self.last = self.start

    def __call__(self, steps, residual) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            print(
                f"  {self.label}: step {int(steps):,}  residual {float(residual):.1e}  "
                f"{now - self.start:.0f}s",
                file=sys.stderr,
                flush=True,
            )


TICKER = StepTicker()


def run_checkpoint(directory, run, seed: int) -> Path:
    """Where asynchronous run ``seed`` of the trained ``run`` keeps its checkpoint."""
    name = str(Path(run)).strip("/").replace("/", "__")
    return Path(directory) / f"{name}.seed{seed}.ckpt"


#: What a `claim` yields for an asynchronous run another process is simulating.
ELSEWHERE = "simulated by another process"


@contextlib.contextmanager
def own_runs(seed: int):
    """The default `claim` of `async_evaluation`: every asynchronous run is this process's,
    none finished elsewhere."""
    yield None


def out_of_budget(entry: dict) -> bool:
    """Whether a finished asynchronous run stopped only because its time budget ran out
    (not converged, stalled or diverged): a larger budget would continue it."""
    return not (entry["converged"] or entry.get("stalled") or entry.get("diverged"))


def extends_budget(made: dict, settings: dict) -> bool:
    """Whether ``settings`` are the settings ``made`` with a larger time budget
    (``max_time``): the runs ``made`` left on their budget can go on under them."""

    def rest(s):
        return {k: v for k, v in s.items() if k != "max_time"}

    return rest(made) == rest(settings) and made.get("max_time", 0) < settings["max_time"]


def made_no_progress(entry: dict) -> bool:
    """A run that ended on its time budget (not converged, stalled or diverged) with its
    residual at or above its first check: it made no progress at all, typically a step
    too large for the coupling (measured on a trained energy whose residual grew 35-fold,
    finite to the end). ‖∇E‖ may rise on the way to the minimiser, so this is a verdict
    on the whole run, not a divergence test. A row that records it (``no_progress``,
    kept when the residual curve is dropped) is taken at its word."""
    if "no_progress" in entry:
        return bool(entry["no_progress"])
    if not out_of_budget(entry):
        return False
    first = entry.get("residuals", [])[:1]
    return bool(first) and entry["final_residual"] >= first[0]


def async_evaluation(
    run,
    *,
    stagger: int = 4,
    delay: int = 3,
    runs: int = 5,
    graphs: int = 10,
    step_size: float | None = None,
    max_time: int = 100_000,
    x64: bool = False,
    progress=None,
    momentum: float = 0.0,
    precondition: bool = False,
    tick: bool = False,
    finished: dict | None = None,
    checkpoints=None,
    claim=own_runs,
) -> dict:
    """Compare synchronous and ``runs`` asynchronous inferences of the run in ``run``.

    ``step_size`` (energies only) defaults to the certified safe step (1/K₁ with
    ``momentum`` > 0, which the certificate does not cover); the certificate for the step
    used is part of the result either way. ``precondition``: block-Jacobi steps
    (`simulate`), certified by their own rule; energies only (recorded False for others).
    ``progress(entry)`` hears of each finished run; ``tick``: a line on stderr every few
    seconds while a run goes on (`TICKER`). ``finished``: entries of an earlier, interrupted
    evaluation with the same settings, by schedule seed; those runs are taken as they are
    (a schedule seed replays the same run), not simulated again. ``checkpoints``: a
    directory where each asynchronous run saves its state every few minutes
    (`simulate`'s ``checkpoint``), so a killed evaluation continues mid-run.
    ``claim(seed)``: a context manager held while asynchronous run ``seed`` is simulated
    (processes sharing an evaluation, `hogwild.experiments.table2_rows`); it yields None
    (simulate it), that run's finished entry (another process finished it meanwhile) or
    `ELSEWHERE` (another process simulates it: skipped). A result missing a skipped run has
    no summary (``decrease_mean`` ...): its caller completes it later.
    """
    start = time.perf_counter()
    config, data, model = load_run(run)
    precondition = precondition and model.family == "optimisation"  # energies only
    kind, test = data.kind, data.test[:graphs]
    if not test:
        raise ValueError(f"run {run} has no test graphs.")
    dtype = config.train.dtype
    if x64:
        jax.config.update("jax_enable_x64", True)
        dtype = np.float64
        model = cast_model(model, dtype)
    batch = make_batch(test, data.level, dtype)
    check_simulation(
        model, batch.graph, Schedule(stagger, delay), max_time=max_time, precondition=precondition
    )
    config.train.enable_precision(model.family)
    graph = batch.graph
    solver = config.train.eval_solver(model.family, [graph], [graph.num_graphs], model.hidden)
    solution = embed(model, graph, solver=solver)
    sync = model.readout(graph, solution.value)
    schedule = Schedule(stagger, delay)
    if momentum and step_size is None and not precondition:
        step_size = "sync"
    cert = certify(model, graph, schedule, step_size, momentum=momentum, precondition=precondition)
    alpha = cert.step_size if model.family == "optimisation" else None
    result = {
        "run": str(run),
        "model": config.model,
        "model_options": config.model_options,
        "standardise_targets": config.train.standardise_targets,
        "family": model.family,
        "task": config.task,
        "metric": primary_metric(kind),
        "graphs": len(test),
        "dtype": np.dtype(dtype).name,
        "stagger": stagger,
        "delay": delay,
        "staleness_bound": schedule.staleness_bound,
        "step_size": alpha,
        "momentum": momentum,
        "precondition": precondition,
        "certificate": {"safe": cert.safe, "reason": cert.reason, "summary": cert.summary()},
        "sync": {"metric": _metric(kind, sync, batch), "converged": bool(solution.stats.converged)},
        "async": [],
    }
    simulation = {
        "step_size": alpha,
        "momentum": momentum,
        "max_time": max_time,
        "precondition": precondition,
        "progress": TICKER if tick else None,
    }
    scoring = (kind, batch, sync)
    for seed in range(runs):
        if finished and seed in finished:
            result["async"].append(finished[seed])
            continue
        with claim(seed) as taken:
            if taken is None:
                TICKER.begin(f"{config.task} {config.model} seed {seed}")
                where = None if checkpoints is None else run_checkpoint(checkpoints, run, seed)
                trace = simulate(
                    model,
                    batch.graph,
                    Schedule(stagger, delay, seed),
                    **simulation,
                    checkpoint=where,
                )
                entry = _entry(seed, trace, *scoring)
                entry["decrease"] = 100.0 * (entry["metric"] - result["sync"]["metric"])
                result["async"].append(entry)
                if progress is not None:
                    progress(entry)
            elif taken != ELSEWHERE:
                result["async"].append(taken)
    if len(result["async"]) < runs:
        return result  # some runs are simulated by other processes (claim): no summary yet
    decrease = np.array([e["decrease"] for e in result["async"]])
    result["decrease_mean"] = float(decrease.mean())
    result["decrease_std"] = float(decrease.std())
    result["max_deviation"] = max(e["deviation"] for e in result["async"])
    result["all_converged"] = all(e["converged"] for e in result["async"])
    result["seconds"] = time.perf_counter() - start
    return result


def _entry(seed: int, trace, kind: str, batch, sync) -> dict:
    """What `async_evaluation` records of asynchronous run ``seed`` (its `simulate` trace),
    without its decrease."""
    times, residuals = trace.residual_curve()
    entry = {
        "seed": seed,
        "metric": _metric(kind, trace.predictions, batch),
        "deviation": _deviation(trace.predictions, sync, batch),
        "changed": _changed(kind, trace.predictions, sync, batch),
        "converged": bool(trace.converged),
        "stalled": bool(trace.stalled),
        "diverged": bool(trace.diverged),
        "final_residual": float(residuals[-1]) if residuals.size else float("nan"),
        "steps": int(trace.steps),
        "max_staleness": trace.max_staleness(),
        "times": times.tolist(),
        "residuals": residuals.tolist(),
    }
    entry["no_progress"] = made_no_progress(entry)
    return entry


def async_figure(result: dict, path) -> None:
    """Residual against simulated time for every asynchronous run (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for entry in result["async"]:
        ax.plot(
            entry["times"], np.maximum(entry["residuals"], 1e-16), label=f"seed {entry['seed']}"
        )
    explicit = result["family"] == "explicit"
    ax.set_yscale("linear" if explicit else "log")
    ax.set_xlabel("simulated time step")
    ax.set_ylabel("nodes still running" if explicit else "synchronous residual")
    ax.set_title(
        f"{result['model']} on {result['task']}: hogwild inference, "
        f"S={result['stagger']}, D={result['delay']}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
