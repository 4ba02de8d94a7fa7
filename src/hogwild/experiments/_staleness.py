"""Staleness sweep: hogwild inference of trained runs against the staleness bound B.

Beyond the paper, which tests B = 7 only: for every trained run and every B in ``bounds``,
``runs`` asynchronous inferences (`async_evaluation`) on the first ``graphs`` test graphs
under the schedule S = ⌈B/2⌉, D = B − S (B = 1 is synchronous), with one fixed step size
per energy (1/K₁ by default, so that only the staleness changes). Recorded per (run, B):
the largest deviation of any prediction from the synchronous one, the mean steps to the
residual tolerance of the runs that reached it, how many did, and the decrease in the task
metric. Rows are appended to a JSON-lines file as they finish, so a sweep resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..models import MODELS
from ..train import append_json_line, read_json_lines
from ._async_eval import async_evaluation

BOUNDS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50)


def schedule_for(bound: int) -> tuple[int, int]:
    """(stagger S, delay D) with S + D = ``bound``: S = ⌈B/2⌉, so B = 1 is synchronous."""
    if bound < 1:
        raise ValueError(f"a staleness bound B must be >= 1; got {bound}.")
    stagger = (bound + 1) // 2
    return stagger, bound - stagger


def load_rows(jsonl) -> list[dict]:
    """The rows saved in ``jsonl`` ([] when there is none)."""
    return read_json_lines(jsonl)


def series(row: dict) -> tuple:
    """What makes one curve of the sweep: the run, block-Jacobi steps or not, float64 or
    not (rows from before these options were plain and in the run's own dtype)."""
    return row["run"], row.get("precondition", False), row.get("x64", False)


def _label(row: dict) -> str:
    extra = ", block-Jacobi" * row.get("precondition", False) + ", --x64" * row.get("x64", False)
    return f"{row['model']} ({row['task']}{extra})"


def _done(jsonl) -> set:
    rows = [] if jsonl is None else load_rows(jsonl)
    return {(*series(r), r["bound"]) for r in rows}


def _row(result: dict, bound: int, x64: bool) -> dict:
    entries = result["async"]
    converged = [e["steps"] for e in entries if e["converged"]]
    return {
        "run": result["run"],
        "model": result["model"],
        "family": result["family"],
        "task": result["task"],
        "bound": bound,
        "stagger": result["stagger"],
        "delay": result["delay"],
        "step_size": result["step_size"],
        "precondition": result["precondition"],
        "x64": x64,  # inference forced to float64 (--x64), whatever the run's own dtype
        "runs": len(entries),
        "converged": len(converged),
        "steps_mean": float(np.mean(converged)) if converged else None,
        "max_deviation": result["max_deviation"],
        "decrease_mean": result["decrease_mean"],
        "decrease_std": result["decrease_std"],
    }


def staleness_rows(
    run_dirs,
    *,
    bounds=BOUNDS,
    runs: int = 3,
    graphs: int = 10,
    step_size="sync",
    max_time: int = 100_000,
    jsonl=None,
    progress=None,
    x64: bool = False,
    precondition: bool = False,
) -> list[dict]:
    """One row per (run, B) not already in ``jsonl`` with the same ``precondition``
    (block-Jacobi steps; energies only, the other models' rows are plain) and ``x64``;
    each is appended as it finishes. With ``progress(row)`` (someone watches), a line on
    stderr every few seconds while a run goes on, too."""
    done, rows = _done(jsonl), []
    for run in run_dirs:
        model = json.loads((Path(run) / "config.json").read_text())["model"]
        scaled = precondition and MODELS[model].family == "optimisation"  # energies only
        for bound in bounds:
            if (str(run), scaled, x64, bound) in done:
                continue
            stagger, delay = schedule_for(bound)
            result = async_evaluation(
                run,
                stagger=stagger,
                delay=delay,
                runs=runs,
                graphs=graphs,
                step_size=step_size,
                max_time=max(max_time, 2 * bound),
                x64=x64,
                precondition=scaled,
                tick=progress is not None,
            )
            rows.append(_row(result, bound, x64))
            if jsonl is not None:
                append_json_line(jsonl, rows[-1])
            if progress is not None:
                progress(rows[-1])
    return rows


def staleness_figure(rows: list[dict], path) -> None:
    """Two panels against B: the largest deviation from the synchronous predictions (every
    model), and the mean steps to tolerance (implicit models)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, key in enumerate(dict.fromkeys(map(series, rows))):
        mine = sorted((r for r in rows if series(r) == key), key=lambda r: r["bound"])
        style = {"label": _label(mine[0]), "color": f"C{k % 10}"}
        bounds = [r["bound"] for r in mine]
        left.plot(bounds, [max(r["max_deviation"], 1e-16) for r in mine], "o-", **style)
        steps = [np.nan if r["steps_mean"] is None else r["steps_mean"] for r in mine]
        if mine[0]["family"] != "explicit" and not np.all(np.isnan(steps)):
            right.plot(bounds, steps, "o-", **style)
    left.set(xscale="log", yscale="log", xlabel="staleness bound B = S + D")
    left.set(ylabel="largest |async − sync| prediction", title="deviation from synchronous")
    right.set(xscale="log", xlabel="staleness bound B = S + D")
    right.set(ylabel="simulated steps to tolerance", title="time to converge (implicit models)")
    if right.lines:
        right.set_yscale("log")
    else:
        right.text(
            0.5,
            0.5,
            "no implicit run reached its tolerance",
            ha="center",
            transform=right.transAxes,
        )
    left.legend(fontsize=7)
    if right.lines:
        right.legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def staleness_markdown(rows: list[dict]) -> str:
    """Runs × B: largest deviation (converged runs / runs)."""
    bounds = sorted({r["bound"] for r in rows})
    lines = [
        "| model (task) | " + " | ".join(f"B={b}" for b in bounds) + " |",
        "|---|" + "---|" * len(bounds),
    ]
    for key in dict.fromkeys(map(series, rows)):
        mine = {r["bound"]: r for r in rows if series(r) == key}
        first = next(iter(mine.values()))
        cells = [
            f"{mine[b]['max_deviation']:.1e} ({mine[b]['converged']}/{mine[b]['runs']})"
            if b in mine
            else "—"
            for b in bounds
        ]
        lines.append(f"| {_label(first)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
