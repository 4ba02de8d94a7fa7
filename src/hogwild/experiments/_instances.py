"""The trained instance of a table cell that Table 2, the staleness sweep and `deploy` use.

Per (task, model) cell of Table 1 or Table 3 it is the run with the best *validation* metric
among the cell's rows of one protocol (ties: lowest fold, then seed; test data never
decides). It is kept in the repository as ``results/instances/<task>/<model>/`` — the three
files `hogwild.train.load_run` and ``reproduce table2`` read (``config.json``,
``checkpoint.eqx``, ``metrics.json``; about 20 KB) and ``source.json`` (the row it came from
and whether it was retrained) — so that later work does not depend on a runs directory
that only the machine which trained it held. When that run directory is gone, the run is
retrained first from the row's protocol, fold and seed.
"""

from __future__ import annotations

from pathlib import Path

from ..train import write_atomic, write_json
from ._table1 import Protocol, _finished_metrics, _train_or_resume, cell_run

#: The files of a run directory that make a trained instance.
INSTANCE_FILES = ("config.json", "checkpoint.eqx", "metrics.json")


def best_row(rows: list[dict], task: str, model: str, protocol: str) -> dict:
    """The row of the cell with the lowest validation metric (error or relative RMSE)."""
    cell = [r for r in rows if (r["task"], r["model"], r["protocol"]) == (task, model, protocol)]
    if not cell:
        raise ValueError(f"no {protocol} rows for {task}:{model}; train the cell first.")
    return min(cell, key=lambda r: (r["validation"], r["fold"], r["seed"]))


def keep_instance(protocol: Protocol, row: dict, runs_dir, dest) -> dict:
    """Copy the row's run into ``dest`` (retrained into ``runs_dir`` first, with the same
    protocol, fold and seed, when its directory holds no finished run); returns the
    ``source.json`` record. A finished run there whose validation metric is not the row's
    is an earlier retraining (``retrained``: true) — unless the row names that very
    directory, whose run was then replaced: refused."""
    if row["protocol"] != protocol.name:
        raise ValueError(f"row of protocol {row['protocol']!r} given with {protocol.name!r}.")
    config, out = cell_run(row["task"], row["model"], protocol, row["fold"], row["seed"], runs_dir)
    metrics = _finished_metrics(out)
    retrained = metrics is None
    if retrained:
        metrics = _train_or_resume(config, out)
    if "test" not in metrics:
        raise RuntimeError(f"the retraining in {out} did not finish ({metrics['stopped']}).")
    key = metrics["primary_metric"]
    found = 100 * metrics["validation"][key]
    if not retrained and abs(found - row.get("validation", found)) > 1e-6:
        if Path(row.get("run", "")).resolve() == out.resolve():
            raise ValueError(
                f"{out} holds a finished run with validation {found:.2f}, not its row's "
                f"{row['validation']:.2f}: the row's run was replaced; move it away to retrain."
            )
        retrained = True  # an earlier retraining: the row's own run was trained elsewhere
    dest = Path(dest)
    for name in INSTANCE_FILES:
        write_atomic(dest / name, (out / name).read_bytes())
    record = {
        "row": row,
        "retrained": retrained,
        "run": str(out),
        "test": 100 * metrics["test"][key],
        "validation": 100 * metrics["validation"][key],
    }
    write_json(dest / "source.json", record)
    return record
