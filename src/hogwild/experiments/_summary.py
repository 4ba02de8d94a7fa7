"""Summaries of finished run directories: mean ± std of the test metric per model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: Table 1 of the paper (test error / relative RMSE in %, mean ± std over 10 folds × 5 seeds).
PAPER_TABLE1 = {
    "chains": {
        "ignn": (26.9, 13.3),
        "gsd-gnn": (35.9, 6.3),
        "energy-node": (15.8, 17.9),
        "energy-edge": (1.2, 2.2),
        "energy-attention": (0.25, 0.5),
        "gcn": (47.0, 0.0),
        "gat": (47.0, 0.0),
    },
}


def summarise_runs(run_dirs) -> dict[str, dict]:
    """Group runs by model: test metric in % per run, with epochs and wall time."""
    out: dict[str, dict] = {}
    for run in sorted(Path(r) for r in run_dirs):
        path = run / "metrics.json"
        if not path.is_file():
            continue
        m = json.loads(path.read_text())
        key = m["primary_metric"]
        row = out.setdefault(m["model"], {"task": m["task"], "metric": key, "runs": []})
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
        ref = paper.get(model)
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
