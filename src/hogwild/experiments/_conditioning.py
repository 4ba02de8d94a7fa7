"""The conditioning trade-off (issue 10): bounding K₁/μ against accuracy and solve cost.

For each task and each bound κ on the condition number (the energy GNN's
``max_condition`` option; None = unbounded), and each target κ of the soft alternative
(``condition_penalty``, `hogwild.train._penalty`), one edge-wise energy GNN is trained, and the
study records: the test metric; K₁, μ and K₁/μ at the end of training (Lanczos, from the
run's history); the mean L-BFGS steps of the synchronous solves (training, warm started,
over the last 10 % of epochs, and the final cold-started test evaluation); and the
simulated time steps hogwild inference needs to reach the tolerance (S = 4, D = 3,
step 1/K₁). One JSON line per point, so an interrupted study resumes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..train import RunConfig, TrainConfig, append_json_line, read_json_lines
from ._async_eval import async_evaluation
from ._table1 import _train_or_resume

BOUNDS = (None, 1e5, 1e4, 1e3, 1e2)


@dataclasses.dataclass(frozen=True)
class Study:
    """Which tasks (with their options), bounds, penalty targets, epochs and
    asynchronous runs."""

    tasks: dict = dataclasses.field(
        default_factory=lambda: {"chains": {"length": 100}, "counting": {}}
    )
    bounds: tuple = BOUNDS
    penalties: tuple = ()
    epochs: int = 600
    learning_rate: float = 0.003
    async_runs: int = 2
    async_graphs: int = 5
    model: str = "energy-edge"


def _label(bound) -> str:
    return "none" if bound is None else f"{bound:g}"


def point_label(row: dict) -> str:
    """A point's setting: "none", the bound ("1e+04") or "penalty 1000"."""
    penalty = row.get("penalty")
    return _label(row["bound"]) if penalty is None else f"penalty {penalty:g}"


def _legend(row: dict) -> str:
    """A point's name in the figures: "κ≤1e+04", "κ≤none" or "penalty 1000"."""
    name = point_label(row)
    return name if row.get("penalty") is not None else f"κ≤{name}"


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def _summary(history: list[dict]) -> dict:
    tail = history[-max(1, len(history) // 10) :]
    last = next(r for r in reversed(history) if "condition" in r)
    return {
        "hessian_max": last["hessian_max"],
        "hessian_min": last["hessian_min"],
        "condition": last["condition"],
        "train_solver_steps": float(np.mean([r["solver_steps"] for r in tail])),
        "train_adjoint_steps": float(np.mean([r["adjoint_steps"] for r in tail])),
    }


def run_point(task: str, bound, study: Study, runs_dir, jsonl, penalty=None) -> dict:
    """Train (or resume) one (task, bound) or (task, penalty) point, simulate it, append
    its row."""
    options = {} if bound is None else {"max_condition": bound}
    options |= {} if penalty is None else {"condition_penalty": penalty}
    train = TrainConfig(
        epochs=study.epochs, patience=study.epochs, learning_rate=study.learning_rate
    )
    config = RunConfig(task, study.model, dict(study.tasks[task]), train, options)
    name = f"bound-{_label(bound)}" if penalty is None else f"penalty-{penalty:g}"
    out = Path(runs_dir) / task / name
    metrics = _train_or_resume(config, out)
    if metrics["stopped"].startswith("interrupted"):
        raise KeyboardInterrupt
    hog = async_evaluation(out, runs=study.async_runs, graphs=study.async_graphs, step_size="sync")
    key = metrics["primary_metric"]
    row = {
        "task": task,
        "model": study.model,
        "bound": bound,
        "penalty": penalty,
        "metric": key,
        "test": 100 * metrics["test"][key],
        "validation": 100 * metrics["validation"][key],
        "best_epoch": metrics["best_epoch"],
        "epochs": study.epochs,
        "test_solver_steps": metrics["test"]["solver"]["mean_steps"],
        "test_unconverged": metrics["test"]["solver"]["unconverged"],
        **_summary(_history(out)),
        "async_steps": float(np.mean([e["steps"] for e in hog["async"]])),
        "async_converged": sum(e["converged"] for e in hog["async"]),
        "async_runs": len(hog["async"]),
        "async_decrease": hog["decrease_mean"],
        "run": str(out),
    }
    append_json_line(jsonl, row)
    return row


def load_points(jsonl) -> list[dict]:
    return read_json_lines(jsonl)


def run_study(study: Study, runs_dir, jsonl, progress=None) -> list[dict]:
    """Every (task, bound) point not yet in ``jsonl``."""
    done = {(r["task"], r["bound"], r.get("penalty")) for r in load_points(jsonl)}
    points = [(b, None) for b in study.bounds] + [(None, p) for p in study.penalties]
    rows = []
    for task in study.tasks:
        for bound, penalty in points:
            if (task, bound, penalty) in done:
                continue
            rows.append(run_point(task, bound, study, runs_dir, jsonl, penalty))
            if progress is not None:
                progress(rows[-1])
    return rows


def conditioning_markdown(rows: list[dict]) -> str:
    """One table row per (task, bound or penalty target)."""
    lines = [
        "| task | bound κ (or penalty target) | test (%) | K₁ | μ | K₁/μ | sync steps (train) "
        "| sync steps (cold test) "
        "| async steps (S=4, D=3) | async converged |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {point_label(r)} | {r['test']:.1f} | {r['hessian_max']:.3g} "
            f"| {r['hessian_min']:.3g} | {r['condition']:.3g} | {r['train_solver_steps']:.0f} "
            f"| {r['test_solver_steps']:.0f} | {r['async_steps']:.0f} "
            f"| {r['async_converged']}/{r['async_runs']} |"
        )
    return "\n".join(lines) + "\n"


def conditioning_figure(rows: list[dict], path) -> None:
    """Per task: test metric, synchronous steps and asynchronous steps against K₁/μ."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows})
    panels = (
        ("test", "test metric (%)"),
        ("test_solver_steps", "solver steps (cold test solve)"),
        ("async_steps", "hogwild steps to tolerance"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (key, label) in zip(axes, panels):
        for task in tasks:
            pts = sorted((r["condition"], r[key], _legend(r)) for r in rows if r["task"] == task)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=task)
            for x, y, name in pts:
                ax.annotate(
                    name,
                    (x, y),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax.set_xscale("log")
        ax.set_xlabel("K₁/μ at the end of training")
        ax.set_ylabel(label)
        if key != "test":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def training_figure(rows: list[dict], path) -> None:
    """Per task: K₁/μ and mean L-BFGS steps per training solve against the epoch, one line
    per bound — how the solve cost grows as the energy stiffens, and what the bound does.
    Points whose run directory is not on this machine are left out of it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(2, len(tasks), figsize=(5.5 * len(tasks), 6), squeeze=False)
    for col, task in enumerate(tasks):
        for r in (r for r in rows if r["task"] == task):
            if not (Path(r["run"]) / "history.jsonl").is_file():
                continue  # a point trained on another machine: its row, not its history
            history = _history(Path(r["run"]))
            cond = [(h["epoch"], h["condition"]) for h in history if "condition" in h]
            label = _legend(r)
            axes[0][col].plot(*zip(*cond), label=label)
            axes[1][col].plot([h["epoch"] for h in history], [h["solver_steps"] for h in history])
        axes[0][col].set(yscale="log", ylabel="K₁/μ at H*", title=task)
        axes[1][col].set(yscale="log", xlabel="epoch", ylabel="solver steps per solve")
        axes[0][col].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
