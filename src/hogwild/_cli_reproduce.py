"""``hogwild reproduce``: Figure 1, Table 2 and the conditioning study here; the tables
built from cells (`_cli_cells`) and the staleness sweep (`_cli_staleness`) in their own
modules."""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path

from ._cli_async import _step_size, print_async_run


def reproduce(args) -> int:
    from . import experiments as ex
    from .train import read_json_lines, write_atomic, write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.what == "figure1":
        import jax

        jax.config.update("jax_enable_x64", True)
        data = ex.figure1_data()
        write_json(out / "figure1.json", data)
        ex.figure1_plot(data, out / "figure1.png")
        print(
            f"synchronous outputs {data['synchronous']}; {data['distinct_outputs']} distinct "
            f"outputs over {data['runs']} asynchronous runs, "
            f"{data['runs_equal_to_synchronous']} equal to the synchronous one"
        )
        print(f"wrote {out}/figure1.png and figure1.json", file=sys.stderr)
        return 0
    if args.seeds is not None and args.what not in ("table1", "table3", "table4"):
        raise ValueError(f"--seeds goes with table1, table3 or table4, not {args.what}.")
    if args.status and args.what not in ("table1", "table2", "table3", "table4"):
        raise ValueError(f"--status goes with table1 to table4, not {args.what}.")
    if args.what in ("table1", "table3", "table4"):
        from ._cli_cells import reproduce_cells

        return reproduce_cells(args, out, args.what)
    if args.what == "conditioning":
        return _reproduce_conditioning(args, out)
    if args.what == "instances":
        from ._cli_cells import reproduce_instances

        return reproduce_instances(args, out)
    if args.what == "staleness":
        from ._cli_staleness import reproduce_staleness

        return reproduce_staleness(args, out)
    if args.what == "reach":
        return _reproduce_reach(args, out)
    if not args.runs:
        raise ValueError("table2 needs run directories, e.g. runs/chains/*-seed0.")

    def progress(r):
        print(
            f"{r['task']:>8} {r['model']:17} decrease {r['decrease_mean']:.2f} ± "
            f"{r['decrease_std']:.2f}  max deviation {r['max_deviation']:.1e}  "
            f"{r['seconds']:.0f}s",
            file=sys.stderr,
            flush=True,
        )

    jsonl = out / "table2.jsonl"
    chosen = ex.finished_runs(args.runs) if args.every_run else ex.best_on_validation(args.runs)
    if not chosen:
        raise ValueError("none of the given directories is a finished run (metrics.json).")
    settings = {
        "runs": args.async_runs,
        "graphs": args.graphs,
        "step_size": _step_size(args.step_size),
        "x64": args.x64,
        "max_time": args.max_time,
        "precondition": args.precondition,
    }
    if args.status:
        print("\n".join(ex.table2_status(chosen, jsonl, **settings)))
        return 0
    ex.table2_rows(chosen, **settings, jsonl=jsonl, progress=progress, run_progress=print_async_run)
    rows = ex.latest_rows(read_json_lines(jsonl))
    name = "table2_spread.md" if args.every_run else "table2_table.md"
    table = (ex.table2_spread_markdown if args.every_run else ex.table2_markdown)(rows)
    write_atomic(out / name, table.encode())
    print(table, end="")
    print(f"wrote {out}/{name} and table2.jsonl", file=sys.stderr)
    return 0


def _penalty_targets(text: str | None) -> tuple[float, ...]:
    """``--penalties 1000,100`` as numbers, each > 1."""
    if not text:
        return ()
    bad = ValueError(f"--penalties must be numbers > 1, e.g. 1000,100; got {text!r}.")
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise bad from None
    if not all(v > 1 for v in values):
        raise bad
    return values


def _reproduce_conditioning(args, out) -> int:
    from .cli import _interrupt
    from .experiments import _conditioning as cond
    from .train import write_atomic

    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1; got {args.epochs}.")
    penalties = _penalty_targets(args.penalties)
    study = cond.Study(
        epochs=args.epochs, **({"bounds": (), "penalties": penalties} if penalties else {})
    )
    if args.tasks:
        unknown = sorted(set(args.tasks.split(",")) - set(study.tasks))
        if unknown:
            valid = ", ".join(study.tasks)
            raise ValueError(f"unknown --tasks {', '.join(unknown)}; valid: {valid}.")
        study = dataclasses.replace(study, tasks={t: study.tasks[t] for t in args.tasks.split(",")})
    jsonl = out / "conditioning.jsonl"
    runs_dir = args.runs_dir or "runs/conditioning"
    print(
        f"conditioning: {len(study.tasks)} tasks x bounds {study.bounds}, penalty targets "
        f"{study.penalties}, {study.epochs} "
        f"epochs each; results append to {jsonl} (rerun to resume)",
        file=sys.stderr,
    )
    signal.signal(signal.SIGTERM, _interrupt)

    def progress(r):
        print(
            f"{r['task']:>9} {cond.point_label(r)}: test {r['test']:.1f}  K1/mu "
            f"{r['condition']:.3g}  sync steps {r['test_solver_steps']:.0f}  async steps "
            f"{r['async_steps']:.0f}",
            file=sys.stderr,
            flush=True,
        )

    try:
        cond.run_study(study, runs_dir, jsonl, progress)
    except KeyboardInterrupt:
        print(f"interrupted; finished points are in {jsonl}; rerun to resume", file=sys.stderr)
        return 130
    rows = cond.load_points(jsonl)
    table = cond.conditioning_markdown(rows)
    write_atomic(out / "conditioning_table.md", table.encode())
    cond.conditioning_figure(rows, out / "conditioning.png")
    cond.training_figure(rows, out / "conditioning_training.png")
    print(table, end="")
    print(
        f"wrote {out}/conditioning_table.md, conditioning.png, conditioning_training.png, "
        f"{jsonl.name}",
        file=sys.stderr,
    )
    return 0


def _reproduce_reach(args, out) -> int:
    """Reach of every given chains run: reach.json, reach_table.md and reach.png in OUT."""
    import jax

    from .experiments import _reach
    from .train import write_atomic, write_json

    if not args.runs:
        raise ValueError("reach needs finished chains run directories, e.g. runs/chains/*.")
    missing = [r for r in args.runs if not (Path(r) / "metrics.json").is_file()]
    if missing:
        raise ValueError(f"not a finished run (no metrics.json): {', '.join(missing)}.")
    jax.config.update("jax_enable_x64", True)
    rows = []
    for run in args.runs:
        rows.append(_reach.reach(run))
        t = rows[-1]["trained"]
        reached = f"{t['nodes_right']} of {rows[-1]['length']} nodes right"
        print(f"{run}: {reached}, signal above the floor for {t['hops_above_floor']} hops",
              file=sys.stderr, flush=True)  # fmt: skip
        for warning in _reach.unconverged(rows[-1]):
            print(f"warning: {warning}", file=sys.stderr)
    write_json(out / "reach.json", rows)
    table = _reach.reach_markdown(rows)
    write_atomic(out / "reach_table.md", table.encode())
    _reach.reach_figure(rows, out / "reach.png")
    print(table, end="")
    print(f"wrote {out}/reach_table.md, reach.png and reach.json", file=sys.stderr)
    return 0
