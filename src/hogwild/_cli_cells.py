"""``hogwild reproduce table1 | table3 | table4``: cells of (task, model) runs, folds × seeds each,
trained resumably (`hogwild.experiments._table1.run_cell`), then the table and its figure."""

from __future__ import annotations

import dataclasses
import signal
import sys
from collections.abc import Callable
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class CellTable:
    """What differs between the tables built from cells."""

    name: str
    protocols: dict
    task_order: tuple
    markdown: Callable[[list[dict]], str]
    figure: Callable[[list[dict], Path], None]


def _tables() -> dict[str, CellTable]:
    from .experiments import _table1 as t1
    from .experiments import _table3 as t3
    from .experiments import _table4 as t4

    return {
        "table1": CellTable(
            "table1", t1.PROTOCOLS, t1.TASK_ORDER, t1.table1_markdown, t1.table1_figure
        ),
        "table3": CellTable(
            "table3", t3.PROTOCOLS, t3.TASK_ORDER, t3.table3_markdown, t3.table3_figure
        ),
        "table4": CellTable(
            "table4", t4.PROTOCOLS, t4.TASK_ORDER, t4.table4_markdown, t4.table4_figure
        ),
    }


def _cells(args, task_order, protocol=None) -> list[tuple[str, str]]:
    """The (task, model) cells named by ``--cell TASK:MODEL`` (default: all of the table,
    or all the ``protocol`` is defined for); a cell outside a variant protocol's
    ``cells`` is refused."""
    from .models import MODELS

    defined = None if protocol is None else protocol.cells
    if not args.cell:
        if defined is not None:
            return [tuple(cell.split(":")) for cell in defined]
        return [(t, m) for t in task_order for m in MODELS]
    cells = []
    for item in args.cell:
        if defined is not None and item not in defined:
            raise ValueError(
                f"the {protocol.name} protocol is defined for {', '.join(defined)} "
                f"only; got --cell {item}."
            )
        task, sep, model = item.partition(":")
        if not sep or task not in task_order or model not in MODELS:
            raise ValueError(
                f"--cell expects TASK:MODEL with TASK in {', '.join(task_order)} and MODEL "
                f"in {', '.join(MODELS)}; got {item!r}."
            )
        cells.append((task, model))
    return cells


def _progress(r: dict) -> None:
    print(
        f"{r['task']:>11} {r['model']:17} fold {r['fold']} seed {r['seed']}: test "
        f"{r['test']:.1f}  validation {r['validation']:.1f}  {r['seconds']:.0f}s",
        file=sys.stderr,
        flush=True,
    )


def cell_progress(protocol, task: str):
    """The epoch-progress callback of one cell: its line's ETA counts the cell's own epoch
    budget (the reduced protocol trains chains 5000 epochs, sums 1500)."""
    from ._cli_seeds import group_progress

    epochs = protocol.train_config(task, 0).epochs
    return group_progress(epochs, every=max(1, min(500, epochs // 4)))


def reproduce_cells(args, out: Path, which: str) -> int:
    """Train every missing run of the chosen cells of table ``which``, then write
    ``OUT/WHICH_table.md``, ``OUT/WHICH.png`` from every row of ``OUT/WHICH.jsonl``."""
    from .cli import _interrupt
    from .experiments import _table1 as t1
    from .train import write_atomic

    table = _tables()[which]
    if args.protocol not in table.protocols:
        raise ValueError(
            f"unknown protocol {args.protocol!r} for {which}; valid: {', '.join(table.protocols)}."
        )
    protocol, jsonl = table.protocols[args.protocol], out / f"{which}.jsonl"
    if args.seeds is not None:
        if not 1 <= args.seeds <= protocol.seeds:
            raise ValueError(
                f"--seeds must be in 1..{protocol.seeds} for the {protocol.name} protocol; "
                f"got {args.seeds}."
            )
        protocol = dataclasses.replace(protocol, seeds=args.seeds)  # same runs, fewer of them
    cells = _cells(args, table.task_order, protocol)
    runs_dir = args.runs_dir or f"runs/{which}"
    if args.status:
        for task, model in cells:
            print("\n".join(t1.cell_status(task, model, protocol, runs_dir, jsonl)))
        return 0
    print(
        f"{which}, {protocol.name} protocol: {len(cells)} cells x {protocol.folds} folds x "
        f"{protocol.seeds} seeds; results append to {jsonl} (rerun to resume)",
        file=sys.stderr,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for task, model in cells:
            epoch_progress = cell_progress(protocol, task)
            t1.run_cell(
                task,
                model,
                protocol,
                runs_dir,
                jsonl,
                _progress,
                epoch_progress,
                args.workers,
                log=lambda message: print(message, file=sys.stderr),
            )
    except KeyboardInterrupt:
        print(f"interrupted; finished runs are in {jsonl}; rerun to resume", file=sys.stderr)
        return 130
    rows = t1.load_rows(jsonl)  # every protocol: each cell shows its strongest
    if not rows:
        print(f"no rows in {jsonl} yet: no table written", file=sys.stderr)
        return 0
    markdown = table.markdown(rows)
    write_atomic(out / f"{which}_table.md", markdown.encode())
    table.figure(rows, out / f"{which}.png")
    print(markdown, end="")
    print(f"wrote {out}/{which}_table.md, {which}.png, {which}.jsonl", file=sys.stderr)
    return 0


def reproduce_instances(args, out: Path) -> int:
    """Keep each chosen cell's best-on-validation run (Table 1 and Table 3 rows of
    ``--protocol``) in ``OUT/instances/TASK/MODEL`` (`hogwild.experiments._instances`),
    retraining it when its run directory is gone. A kept instance of the same row is left
    alone; one of another row is refused unless ``--replace``."""

    from .experiments import _instances as inst
    from .experiments import _table1 as t1
    from .experiments import _table3 as t3

    tables = [_tables()[which] for which in ("table1", "table3")]
    named = _cells(args, sum((t.task_order for t in tables), ())) if args.cell else None
    if args.protocol == t3.TEST_SELECTED_PROTOCOL:
        raise ValueError(
            f"{args.protocol} runs picked their epoch on the test fold: never kept as instances."
        )
    if args.protocol not in tables[0].protocols:
        raise ValueError(f"unknown protocol {args.protocol!r}; valid: paper, reduced.")
    work = []
    for table in tables:
        rows = t1.load_rows(out / f"{table.name}.jsonl", args.protocol)
        present = sorted({(r["task"], r["model"]) for r in rows})
        for task, model in present if named is None else named:
            if task in table.task_order and (task, model) in present:
                row = inst.best_row(rows, task, model, args.protocol)
                runs_dir = args.runs_dir or f"runs/{table.name}"
                work.append((table.protocols[args.protocol], row, runs_dir))
    found = {(row["task"], row["model"]) for _, row, _ in work}
    missing = [f"{t}:{m}" for t, m in named or [] if (t, m) not in found]
    if missing or not work:
        raise ValueError(
            f"no {args.protocol} rows in {out}/table1.jsonl or table3.jsonl for "
            f"{', '.join(missing) or 'any cell'}; train the cells first."
        )
    todo = _instances_to_keep(work, out, args.replace)  # every refusal before any training
    for protocol, row, runs_dir, dest, name in todo:
        record = inst.keep_instance(protocol, row, runs_dir, dest)
        how = "retrained" if record["retrained"] else "copied"
        print(
            f"{name}: {how} into {dest} (test {record['test']:.2f}, validation "
            f"{record['validation']:.2f}; the row says {row['test']:.2f}, {row['validation']:.2f})",
            file=sys.stderr,
            flush=True,
        )
    return 0


def _instances_to_keep(work, out: Path, replace: bool) -> list[tuple]:
    """(protocol, row, runs dir, destination, name) of each instance to (re)write: not one
    already kept from the same row; a ValueError for one kept from another row, unless
    ``replace``."""
    import json

    todo = []
    for protocol, row, runs_dir in work:
        dest = out / "instances" / row["task"] / row["model"]
        name = f"{row['task']}:{row['model']} fold {row['fold']} seed {row['seed']}"
        source = dest / "source.json"
        if source.is_file():
            kept = json.loads(source.read_text())["row"]
            if kept == row:
                print(f"{name}: kept in {dest}", file=sys.stderr)
                continue
            if not replace:
                raise ValueError(
                    f"{dest} holds fold {kept['fold']} seed {kept['seed']}, but the best "
                    f"validation run is now {name}; add --replace to replace it."
                )
        todo.append((protocol, row, runs_dir, dest, name))
    return todo
