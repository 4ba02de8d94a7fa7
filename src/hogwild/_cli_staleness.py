"""``hogwild reproduce staleness RUNS``: the staleness sweep of trained runs
(`hogwild.experiments._staleness`), resumable, with its figure and table."""

from __future__ import annotations

import sys
from pathlib import Path


def reproduce_staleness(args, out: Path) -> int:
    from ._cli_async import _step_size
    from .experiments import _staleness as st
    from .experiments import best_on_validation
    from .train import write_atomic

    if not args.runs:
        raise ValueError("staleness needs run directories, e.g. runs/chains/*-seed0.")
    bounds = _bounds(args.bounds)
    chosen = best_on_validation(args.runs)
    if not chosen:
        raise ValueError("none of the given directories is a finished run (metrics.json).")
    jsonl = out / "staleness.jsonl"

    def progress(r):
        steps = "—" if r["steps_mean"] is None else f"{r['steps_mean']:.0f}"
        print(
            f"{r['task']:>8} {r['model']:17} B = {r['bound']:2d} (S {r['stagger']}, D "
            f"{r['delay']}): max deviation {r['max_deviation']:.1e}, steps {steps}, "
            f"converged {r['converged']}/{r['runs']}",
            file=sys.stderr,
            flush=True,
        )

    st.staleness_rows(
        chosen,
        bounds=bounds,
        runs=args.async_runs,
        graphs=args.graphs,
        step_size=_step_size(args.step_size),
        max_time=args.max_time,
        jsonl=jsonl,
        progress=progress,
        x64=args.x64,
        precondition=args.precondition,
    )
    wanted = {str(c) for c in chosen}
    rows = [r for r in st.load_rows(jsonl) if r["run"] in wanted and r["bound"] in bounds]
    table = st.staleness_markdown(rows)
    write_atomic(out / "staleness_table.md", table.encode())
    st.staleness_figure(rows, out / "staleness.png")
    print(table, end="")
    print(f"wrote {out}/staleness.png, staleness_table.md, staleness.jsonl", file=sys.stderr)
    return 0


def _bounds(text: str) -> tuple[int, ...]:
    """``"1,7,50"`` -> (1, 7, 50): distinct integers >= 1."""
    try:
        bounds = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise ValueError(f"--bounds expects integers like 1,7,50; got {text!r}.") from None
    if not bounds or min(bounds) < 1 or len(set(bounds)) != len(bounds):
        raise ValueError(f"--bounds must be distinct integers >= 1; got {text!r}.")
    return bounds
