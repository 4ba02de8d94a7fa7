"""Summaries of finished run directories: mean ± std of the test metric per model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: Table 1 of the paper (test error / relative RMSE in %, mean ± std over 10 folds × 5 seeds).
PAPER_TABLE1 = {
    "chains": {
        "ignn": (26.9, 13.3),
        "gsd": (35.9, 6.3),
        "energy-node": (15.8, 17.9),
        "energy-edge": (1.2, 2.2),
        "energy-attention": (0.25, 0.5),
        "gcn": (47.0, 0.0),
        "gat": (47.0, 0.0),
    },
}


def _label(run: Path, model: str) -> str:
    """The model's name, with its non-default options (from config.json) if any."""
    config = run / "config.json"
    options = json.loads(config.read_text()).get("model_options", {}) if config.is_file() else {}
    if not options:
        return model
    return f"{model} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})"


def summarise_runs(run_dirs) -> dict[str, dict]:
    """Group runs by model and model options: test metric in % per run, with epochs and
    wall time."""
    out: dict[str, dict] = {}
    for run in sorted(Path(r) for r in run_dirs):
        path = run / "metrics.json"
        if not path.is_file():
            continue
        m = json.loads(path.read_text())
        key = m["primary_metric"]
        row = out.setdefault(
            _label(run, m["model"]),
            {"model": m["model"], "task": m["task"], "metric": key, "runs": []},
        )
        row["runs"].append(
            {
                "run": run.name,
                "test": 100 * m["test"][key],
                "validation": 100 * m["validation"][key],
                "best_epoch": m["best_epoch"],
                "epochs": m["epochs_run"],
                "seconds": m["train_seconds"],
            }
        )
    return out


def _mean_std(values) -> str:
    values = np.asarray(values, float)
    return f"{values.mean():.1f} ± {values.std(ddof=0):.1f}"


def summary_markdown(summary: dict[str, dict], task: str) -> str:
    """A Markdown table: ours (mean ± std, n) beside the paper's Table 1 value."""
    paper = PAPER_TABLE1.get(task, {})
    lines = [
        "| model | test (ours, %) | validation (ours, %) | runs | paper Table 1 (%) |",
        "|---|---|---|---|---|",
    ]
    for model, row in summary.items():
        tests = [r["test"] for r in row["runs"]]
        vals = [r["validation"] for r in row["runs"]]
        ref = paper.get(row["model"]) if model == row["model"] else None
        ref_text = f"{ref[0]} ± {ref[1]}" if ref else "—"
        lines.append(
            f"| {model} | {_mean_std(tests)} | {_mean_std(vals)} | {len(tests)} | {ref_text} |"
        )
    lines += [
        "",
        "| run | test (%) | validation (%) | best epoch | epochs run | train seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary.values():
        for r in row["runs"]:
            lines.append(
                f"| {r['run']} | {r['test']:.2f} | {r['validation']:.2f} | "
                f"{r['best_epoch']} | {r['epochs']} | {r['seconds']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def summary_figure(summary: dict[str, dict], task: str, path) -> None:
    """Bar chart: our test metric per model (mean ± std, dots per run) beside the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paper = PAPER_TABLE1.get(task, {})
    models = list(summary)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(models), 3.4))
    for k, model in enumerate(models):
        tests = np.asarray([r["test"] for r in summary[model]["runs"]])
        ax.bar(
            k - 0.2,
            tests.mean(),
            0.4,
            yerr=tests.std(),
            color="C0",
            capsize=3,
            label="hogwild" if k == 0 else None,
        )
        ax.plot(np.full(len(tests), k - 0.2), tests, "k.", ms=4)
        if model in paper:
            mean, std = paper[model]
            ax.bar(
                k + 0.2,
                mean,
                0.4,
                yerr=std,
                color="C1",
                capsize=3,
                label="paper" if k == 0 else None,
            )
    ax.set_xticks(range(len(models)), models, rotation=15)
    metric = next(iter(summary.values()))["metric"].replace("_", " ")
    ax.set(ylabel=f"test {metric} (%)", title=f"{task}: ours vs. paper Table 1")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
