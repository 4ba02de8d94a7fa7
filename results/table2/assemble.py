"""Assemble Table 2 from the outputs of `hogwild reproduce table2` (run from the repository
root: ``python results/table2/assemble.py``; writes ``results/table2/table2_all.md``).

One row per task and model, each taken as recorded (nothing is recomputed):

- GCN, GAT, GSD-GNN and IGNN: ``results/table2/table2.jsonl``; on MNIST terrain the rows
  redone on the paper-size instances, ``results/table2/mnist-11846/table2.jsonl``.
- The energy GNNs (the kept instances of ``results/instances``): the row with plain steps
  at α = 1/K₁* (the curvature at the synchronous answer, ``--step-size minimiser``,
  ``energies-minimiser``) where every run reached tolerance; else the first such row at
  α = 1/K₁ (``--step-size sync``) among the budgets tried, largest first. The table then
  names the rule of each energy row and K₁/K₁*: where K₁ is attained at H* (ratio 1.0)
  the two rules give one step, and the same runs.
"""

import functools
import re
from pathlib import Path

from hogwild.experiments._table2 import latest_rows, table2_markdown
from hogwild.train import read_json_lines

ROOT = Path("results/table2")
TASKS = ("chains", "counting", "sums", "coordinates", "mnist")
BASELINES = ("gcn", "gat", "gsd", "ignn")
ENERGIES = ("energy-node", "energy-edge", "energy-attention")
ENERGY_OUTPUTS = (
    "energies-minimiser",
    "energies-plain-12m",
    "energies-plain-8m",
    "energies-plain-4m",
    "energies-plain-3m",
    "energies-plain-1m",
    "energies-plain",
)


@functools.cache
def rows_of(path: Path) -> list[dict]:
    """The latest row per trained run of one output (none when it has no table yet)."""
    return latest_rows(read_json_lines(path)) if path.is_file() else []


def find(rows: list[dict], task: str, model: str) -> dict | None:
    return next((r for r in rows if (r["task"], r["model"]) == (task, model)), None)


def curvature_ratio(row: dict) -> float:
    """K₁ / K₁* from the row's certificate summary ("K1 = 1062 (at H*: 1062)")."""
    k1, k_star = re.search(
        r"K1 = ([\d.e+-]+) \(at H\*: ([\d.e+-]+)\)", row["certificate"]["summary"]
    ).groups()
    return float(k1) / float(k_star)


def energy_row(task: str, model: str) -> tuple[dict, str] | None:
    for name in ENERGY_OUTPUTS:
        row = find(rows_of(ROOT / name / "table2.jsonl"), task, model)
        if row is not None and row["all_converged"]:
            return row, name
    return None


def main() -> None:
    baseline = rows_of(ROOT / "table2.jsonl")
    mnist = rows_of(ROOT / "mnist-11846" / "table2.jsonl")
    chosen, notes, missing = [], [], []
    for task in TASKS:
        for model in BASELINES:
            row = find(mnist if task == "mnist" else baseline, task, model)
            chosen += [row] if row else []
            missing += [] if row else [f"{task} {model}"]
        for model in ENERGIES:
            found = energy_row(task, model)
            if found is None:
                missing.append(f"{task} {model}")
                continue
            row, name = found
            chosen.append(row)
            rule = "1/K₁*" if name == "energies-minimiser" else "1/K₁"
            notes.append(
                f"| {task} | {model} | {rule} | {curvature_ratio(row):.2f} | `{ROOT / name}` |"
            )
    text = table2_markdown(chosen)
    text += "\nEnergy rows: the step rule, K₁/K₁* and where the row was recorded.\n\n"
    text += (
        "| task | model | α | K₁/K₁* | output |\n|---|---|---|---|---|\n" + "\n".join(notes) + "\n"
    )
    if missing:
        text += "\nNo row yet (or not every run at tolerance): " + ", ".join(missing) + ".\n"
    (ROOT / "table2_all.md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
