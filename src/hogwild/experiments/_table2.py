"""Table 2: decrease in performance from synchronous to hogwild inference, per model and task.

Protocol of the paper (Section 6.3, Table 2): one trained model instance per model and
task, a sub-sample of (up to) 10 test graphs, 5 asynchronous runs; the decrease is the
increase in error (chains, MNIST) or in relative RMSE (count, sums, coordinates), in %
points, mean ± std over the runs.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..models import MODELS
from ..train import append_json_line, read_json_lines
from ..train._checkpoint import DirectoryBusy, holding
from ..train._rundir import held_elsewhere
from ._async_eval import (
    ELSEWHERE,
    async_evaluation,
    extends_budget,
    made_no_progress,
    out_of_budget,
    own_runs,
    run_checkpoint,
)

#: Table 2 of the paper (decrease, mean ± std over 5 asynchronous runs).
_IMPLICIT_ZERO = {
    name: (0.0, 0.0) for name in ("ignn", "gsd", "energy-node", "energy-edge", "energy-attention")
}
PAPER_TABLE2 = {
    "chains": {**_IMPLICIT_ZERO, "gcn": (38.8, 3.3), "gat": (6.6, 1.8)},
    "counting": {**_IMPLICIT_ZERO, "gcn": (584.6, 42.4), "gat": (250.3, 58.6)},
    "sums": {**_IMPLICIT_ZERO, "gcn": (2.6, 0.2), "gat": (45.1, 2.1)},
    "coordinates": {**_IMPLICIT_ZERO, "gcn": (63.4, 0.0), "gat": (97.0, 34.4)},
    "mnist": {**_IMPLICIT_ZERO, "gcn": (37.4, 10.3), "gat": (50.4, 3.5)},
}


def table2_rows(run_dirs, *, jsonl=None, progress=None, run_progress=None, **options) -> list[dict]:
    """One `async_evaluation` per run directory, with the settings ``options`` name
    (`table2_settings`: schedule, runs, graphs, step, budget, ...); each row is appended to
    ``jsonl`` as it finishes (a JSON line without the residual curves, with its
    ``settings``). ``progress(row)`` after each run directory,
    ``run_progress(entry)`` after each of its asynchronous runs.

    Resumable: a run whose row ``jsonl`` already holds is not evaluated again; rows made
    with other settings are refused (`check_settings`), never replaced. Within a row, each
    finished asynchronous run is kept in ``JSONL.partial.jsonl`` as it ends, so a row
    interrupted after some of its runs resumes from the next one; and the run in progress
    saves its state in ``JSONL.checkpoints/`` every few minutes (`simulate`), so it goes on
    from there rather than from step 0.

    Extendable: with a larger ``max_time`` than ``jsonl``'s rows (all else equal), the
    asynchronous runs that ended on the smaller budget continue from their final state
    (kept in ``JSONL.checkpoints/``) and their trained run gets a new row, appended after
    the old one, which stays; the runs that converged, stalled or diverged are kept as they
    are (a larger budget would not change them), and so are rows with none on budget.

    Shared: several processes may run into one ``jsonl`` at once, seed by seed. Each
    asynchronous run is held by the process simulating it (a lock on
    ``JSONL.checkpoints/NAME.seedS.held/``, gone with the process however it ends); the
    others skip it and take the next free one, then the next row; once nothing is left to
    take, each waits (saying so) for the runs still held elsewhere, and the row is
    recorded once, by whichever process completes it first."""
    settings = table2_settings(**options)
    rows: dict[str, dict] = {}
    for waiting in (False, True):  # first what nobody else simulates, then wait for the rest
        for run in run_dirs:
            if str(run) in rows:
                continue
            row = _row(run, jsonl, settings, run_progress, waiting)
            if row is None:
                continue  # some of its runs are simulated elsewhere: the waiting pass takes it
            rows[str(run)] = row
            if progress is not None:
                progress(row)
    return [rows[str(run)] for run in run_dirs]


def _row(run, jsonl, settings: dict, run_progress, waiting: bool) -> dict | None:
    """``run``'s row: recorded already, or made now (simulating the asynchronous runs no
    other process holds; with ``waiting``, waiting for those it holds) and recorded once;
    None when, not ``waiting``, some of its runs are simulated elsewhere."""
    recorded = check_settings(jsonl, settings) if jsonl else []
    done = _standing(recorded, settings)
    if str(run) in done:
        return done[str(run)]
    partial = None if jsonl is None else Path(jsonl).with_suffix(".partial.jsonl")
    checkpoints = None if jsonl is None else Path(jsonl).with_suffix(".checkpoints")
    earlier = _earlier_entries(recorded, partial, run, settings)
    if not waiting:
        _say_extended(recorded, run, settings)
    result = async_evaluation(
        run,
        **settings,
        progress=_keeper(partial, run, settings, run_progress),
        tick=run_progress is not None,  # someone watches: a line every few seconds too
        finished=earlier,
        checkpoints=checkpoints,
        claim=own_runs if jsonl is None else _claimer(run, jsonl, settings, waiting),
    )
    if len(result["async"]) < settings["runs"]:
        return None
    result["settings"] = settings
    return result if jsonl is None else _record_once(jsonl, result, settings)


def _claimer(run, jsonl, settings: dict, waiting: bool):
    """`async_evaluation`'s ``claim`` for processes sharing ``jsonl``: hold the run's
    ``.held/`` directory beside its checkpoint, then take its entry if another process
    finished it meanwhile; when another process holds it, skip it (`ELSEWHERE`), or, with
    ``waiting``, wait for it (saying so)."""
    checkpoints = Path(jsonl).with_suffix(".checkpoints")
    partial = Path(jsonl).with_suffix(".partial.jsonl")

    @contextlib.contextmanager
    def claim(seed: int):
        held = run_checkpoint(checkpoints, run, seed).with_suffix(".held")
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(holding(held, busy=_waiting(run, seed) if waiting else None))
            except DirectoryBusy:
                yield ELSEWHERE
                return
            try:
                recorded = check_settings(jsonl, settings)
                yield _earlier_entries(recorded, partial, run, settings).get(seed)
            finally:
                held.rmdir()  # still held: a process waiting for it locks the next one made

    return claim


def _waiting(run, seed: int):
    def say() -> None:
        print(
            f"waiting: another process simulates {run} seed {seed}; this one goes on when it ends.",
            file=sys.stderr,
            flush=True,
        )

    return say


def _record_once(jsonl, result: dict, settings: dict) -> dict:
    """Append ``result`` to ``jsonl`` unless another process recorded the row first (then
    that row); under a lock on ``JSONL.checkpoints/``, so it is decided once."""
    with holding(Path(jsonl).with_suffix(".checkpoints"), busy=lambda: None):
        recorded = check_settings(jsonl, settings)
        done = _standing(recorded, settings)
        if result["run"] in done:
            return done[result["run"]]
        append_json_line(jsonl, {**result, "async": [_slim(e) for e in result["async"]]})
    return result


def table2_settings(
    *,
    stagger=4,
    delay=3,
    runs=5,
    graphs=10,
    step_size="sync",
    max_time=100_000,
    x64=False,
    momentum=0.0,
    precondition=False,
) -> dict:
    """The settings a Table 2 row records (`table2_rows`'s keywords); ``precondition`` only
    when set, so rows made before it existed still resume."""
    return {
        "stagger": stagger,
        "delay": delay,
        "runs": runs,
        "graphs": graphs,
        "step_size": step_size,
        "max_time": max_time,
        "x64": x64,
        "momentum": momentum,
        **({"precondition": True} if precondition else {}),
    }


def latest_rows(rows: list[dict]) -> list[dict]:
    """One row per trained run, the last recorded (a row continued to a larger budget
    supersedes the smaller budget's, which stays in the file), in order of first record."""
    return list({row["run"]: row for row in rows}.values())


def table2_status(run_dirs, jsonl, **options) -> list[str]:
    """Where each trained run's row stands under the settings of ``options``
    (`table2_settings`), from ``jsonl``, its ``.partial.jsonl`` and ``.checkpoints/``,
    simulating nothing: per run a recorded row, or per asynchronous run (schedule seed)
    finished (how), being simulated by another process now (`table2_rows` holds it), saved
    (the step its checkpoint reached: it continues from there) or not started."""
    settings = table2_settings(**options)
    recorded = check_settings(jsonl, settings)
    done = _standing(recorded, settings)
    partial = Path(jsonl).with_suffix(".partial.jsonl")
    where = Path(jsonl).with_suffix(".checkpoints")
    lines = []
    for run in map(str, run_dirs):
        if run in done:
            row = done[run]
            reached = sum(e["converged"] for e in row["async"])
            lines.append(f"{run}: recorded ({reached}/{len(row['async'])} reached tolerance)")
            continue
        lines.append(f"{run}:")
        earlier = _earlier_entries(recorded, partial, run, settings)
        for seed in range(settings["runs"]):
            status = _seed_status(earlier.get(seed), run_checkpoint(where, run, seed))
            lines.append(f"  seed {seed}: {status}")
    return lines


def _seed_status(entry: dict | None, checkpoint: Path) -> str:
    """How one asynchronous run stands: its finished ``entry``, else whether another
    process simulates it and where its ``checkpoint`` got to."""
    from ..train._checkpoint import read_header

    if entry is not None:
        return f"{_ending(entry)} at step {entry['steps']:,}"
    busy = held_elsewhere(checkpoint.with_suffix(".held"))
    steps = None
    if checkpoint.is_file():
        steps = read_header(checkpoint)[0].get("meta", {}).get("steps", 0)
    if busy:
        saved = "" if steps is None else f" (state saved at step {steps:,})"
        return "being simulated by another process" + saved
    if steps is not None:
        return f"state saved at step {steps:,} (continues from there)"
    return "not started"


def _ending(entry: dict) -> str:
    if entry["converged"]:
        return "converged"
    if entry.get("diverged"):
        return "diverged"
    return "stalled" if entry["stalled"] else "ended on the budget"


def _keeper(partial, run, settings: dict, run_progress):
    """The per-run ``progress`` of `async_evaluation`: appends each finished asynchronous
    run (without its residual curve) to ``partial``, so that an interrupted row resumes
    from its last finished run, then tells ``run_progress``."""

    def keep(entry: dict) -> None:
        if partial is not None:
            line = {"run": str(run), "settings": settings, "entry": _slim(entry)}
            append_json_line(partial, line)
        if run_progress is not None:
            run_progress(entry)

    return keep


def _earlier_entries(recorded, partial, run, settings: dict) -> dict[int, dict]:
    """The finished asynchronous runs of ``run`` that stand under ``settings``, by schedule
    seed: those made with ``settings``, and those made with a smaller budget that did not
    end on it (`_stands`), from the rows ``recorded`` and from ``partial`` (if any)."""
    lines = [
        {"run": row["run"], "settings": row["settings"], "entry": entry}
        for row in recorded
        for entry in row["async"]
    ]
    lines += [] if partial is None else read_json_lines(partial)
    return {
        line["entry"]["seed"]: line["entry"]
        for line in lines
        if line["run"] == str(run) and _stands(line["entry"], line["settings"], settings)
    }


def _stands(entry: dict, made: dict, settings: dict) -> bool:
    """Whether an asynchronous run made with settings ``made`` is the run ``settings``
    give: the same settings, or a smaller budget that it did not end on."""
    return made == settings or (extends_budget(made, settings) and not out_of_budget(entry))


def _standing(recorded: list[dict], settings: dict) -> dict[str, dict]:
    """The rows of ``recorded`` that stand under ``settings`` (none to continue to a larger
    budget), by trained run; a later row wins."""
    return {r["run"]: r for r in recorded if not _to_extend(r, settings)}


def _to_extend(row: dict, settings: dict) -> bool:
    """Whether ``row`` is to be continued under ``settings``: made with a smaller budget,
    some of its asynchronous runs ended on it."""
    return row["settings"] != settings and any(out_of_budget(e) for e in row["async"])


def _say_extended(recorded, run, settings: dict) -> None:
    """One line on stderr for each row of ``run`` about to be continued to a larger budget."""
    for row in recorded:
        if row["run"] == str(run) and _to_extend(row, settings):
            ended = sum(out_of_budget(e) for e in row["async"])
            print(
                f"{run}: {ended} of {len(row['async'])} asynchronous runs ended on the "
                f"{row['settings']['max_time']:,}-step budget; continuing them to "
                f"{settings['max_time']:,}.",
                file=sys.stderr,
            )


def check_settings(jsonl, settings: dict) -> list[dict]:
    """The rows already in ``jsonl`` ([] if none); a ValueError naming the file when any
    was made with other settings than ``settings`` or a smaller budget (`extends_budget`): they
    are kept, use another output directory."""
    rows = read_json_lines(jsonl)
    for row in rows:
        made = row.get("settings") or {}
        if made != settings and not extends_budget(made, settings):
            raise ValueError(
                f"{jsonl} holds rows made with other settings ({row.get('settings')}); they "
                "are kept — rerun with the same flags to resume (or a larger --max-time to "
                "extend them), or choose another --out."
            )
    return rows


def finished_runs(run_dirs) -> list[Path]:
    """The given directories that hold a finished run (config.json and metrics.json)."""
    runs = map(Path, run_dirs)
    return [r for r in runs if (r / "metrics.json").is_file() and (r / "config.json").is_file()]


def best_on_validation(run_dirs) -> list[Path]:
    """Per (task, model, model options) the run with the lowest validation loss: the one
    trained instance of Table 2, chosen without looking at test data."""
    best: dict[tuple, tuple[float, Path]] = {}
    for run in finished_runs(run_dirs):
        m = json.loads((run / "metrics.json").read_text())
        c = json.loads((run / "config.json").read_text())
        key = (c["task"], c["model"], json.dumps(c.get("model_options", {}), sort_keys=True))
        loss = m["validation"]["loss"]
        if key not in best or loss < best[key][0]:
            best[key] = (loss, run)
    return [run for _, run in sorted(best.values(), key=lambda v: str(v[1]))]


def _slim(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("times", "residuals")}


def table2_markdown(rows: list[dict]) -> str:
    """Ours (mean ± std, with the evidence: deviation, runs at tolerance, the steps they
    took) beside the paper, one row per model and task."""
    lines = [
        "| task | model | sync metric (%) | decrease (ours, % points) | paper Table 2 | "
        "max prediction deviation | reached tolerance | steps | step size | certified |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ref = PAPER_TABLE2.get(r["task"], {}).get(r["model"])
        ref_text = f"{ref[0]} ± {ref[1]}" if ref else "—"
        done = sum(e["converged"] for e in r["async"])
        stuck = sum(made_no_progress(e) for e in r["async"])
        reached = f"{done}/{len(r['async'])}" + (f" ({stuck} no progress)" if stuck else "")
        alpha = "—" if r["step_size"] is None else f"{r['step_size']:.2e}"
        alpha += " block-Jacobi" if r.get("precondition") else ""
        lines.append(
            f"| {r['task']} | {r['model']} | {100 * r['sync']['metric']:.1f} | "
            f"{r['decrease_mean']:.1f} ± {r['decrease_std']:.1f} | {ref_text} | "
            f"{r['max_deviation']:.1e} | {reached} | {_steps(r['async'])} | {alpha} | "
            f"{'yes' if r['certificate']['safe'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def _steps(runs: list[dict]) -> str:
    """The simulated steps the runs took, "min–max" (one number when they agree)."""
    made = sorted(e["steps"] for e in runs if "steps" in e)
    if not made:
        return "—"
    return f"{made[0]:,}" if made[0] == made[-1] else f"{made[0]:,}–{made[-1]:,}"


def _variant(row: dict) -> str:
    """What sets a run apart from the model's defaults, e.g. " (bias=1, raw targets)"."""
    defaults = MODELS[row["model"]].options
    options = row.get("model_options", {})
    parts = [f"{k}={v}" for k, v in sorted(options.items()) if v != defaults.get(k)]
    parts += [] if row.get("standardise_targets", True) else ["raw targets"]
    return f" ({', '.join(parts)})" if parts else ""


def table2_spread_markdown(rows: list[dict]) -> str:
    """Per task and model, over every evaluated trained instance (``--every-run``): how
    the decrease is spread (median, range), how many instances lose at least the paper's
    decrease, and how much asynchrony changed the predictions (`_changed`: the fraction of
    changed classes, or the relative change of a regression output; median over
    instances of the mean over asynchronous runs)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["task"], r["model"], _variant(r))].append(r)
    lines = [
        "| task | model | instances | sync metric (%), median | decrease, median [min, max] "
        "| instances with decrease >= paper | predictions changed, median | paper Table 2 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (task, model, variant), group in sorted(groups.items()):
        ref = PAPER_TABLE2.get(task, {}).get(model)
        decrease = np.array([r["decrease_mean"] for r in group])
        sync = np.median([100 * r["sync"]["metric"] for r in group])
        changed = np.median(
            [np.mean([e.get("changed", np.nan) for e in r["async"]]) for r in group]
        )
        reached = f"{int(np.sum(decrease >= ref[0]))}/{len(group)}" if ref else "—"
        lines.append(
            f"| {task} | {model}{variant} | {len(group)} | {sync:.1f} | {np.median(decrease):.1f} "
            f"[{decrease.min():.1f}, {decrease.max():.1f}] | {reached} | {changed:.3g} | "
            f"{f'{ref[0]} ± {ref[1]}' if ref else '—'} |"
        )
    return "\n".join(lines) + "\n"
