"""``hogwild async``: hogwild inference of a trained run under a chosen schedule, with
its certificate, table line and figure (`hogwild.experiments.async_evaluation`)."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys

from .train._checkpoint import append_json_line, holding, read_json_lines


def _step_size(text: str | None):
    """None (certified), "sync", "minimiser" or a positive number, from ``--step-size``."""
    if text is None or text == "safe":
        return None
    if text in ("sync", "minimiser"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"--step-size must be a number, 'safe', 'sync' or 'minimiser'; got {text!r}."
        ) from None
    if not value > 0:
        raise ValueError(f"--step-size must be > 0; got {value}.")
    return value


_SMALLER_STEP = "(smaller --step-size or --momentum)"


def _ending(entry: dict) -> str:
    """How a run ended (`made_no_progress`: out of time without any progress)."""
    from .experiments._async_eval import made_no_progress

    if entry["converged"]:
        return "converged"
    if entry.get("diverged"):
        return f"DIVERGED: the residual is no longer finite {_SMALLER_STEP}"
    if entry["stalled"]:
        return "stalled at the dtype's rounding floor"
    if made_no_progress(entry):
        return (
            f"time budget; NOT CONVERGING: residual at or above its first check "
            f"{entry['residuals'][0]:.1e} {_SMALLER_STEP}"
        )
    return "time budget"


def run_async(args) -> int:
    """``hogwild async RUN``: check the flags, then evaluate with ``RUN/STEM.partial/``
    held by this process (`holding`), so a second process given the same run and schedule
    is refused in one line instead of simulating the same runs beside it."""
    from .asynchrony import Schedule, check_schedule

    if args.runs < 1 or args.graphs < 1:
        raise ValueError(f"--runs and --graphs must be >= 1; got {args.runs}, {args.graphs}.")
    if args.max_time < 1:
        raise ValueError(f"--max-time must be >= 1; got {args.max_time}.")
    check_schedule(Schedule(args.stagger, args.delay), args.max_time)  # before any loading
    step_size = _step_size(args.step_size)
    if not 0.0 <= args.momentum < 1.0:
        raise ValueError(f"--momentum must be in [0, 1); got {args.momentum}.")
    settings = {
        "stagger": args.stagger,
        "delay": args.delay,
        "runs": args.runs,
        "graphs": args.graphs,
        "step_size": step_size,
        "max_time": args.max_time,
        "x64": args.x64,
        "momentum": args.momentum,
        "precondition": args.precondition,
    }
    stem = _result_stem(args)
    if not (stem.parent / "config.json").is_file():
        raise ValueError(f"{args.run} is not a run directory (no config.json).")
    work = stem.with_name(stem.name + ".partial")
    with holding(work, busy=_refuse_busy(work)), _removed_if_empty(work):
        return _evaluate(args, stem, work, settings)


def _refuse_busy(work):
    """`holding`'s answer to a second `hogwild async` of one run and schedule: refuse."""

    def refuse():
        raise ValueError(
            f"{work} is in use: another process is running this asynchronous evaluation; "
            "wait for it to finish (the same command then continues or reuses its result)."
        )

    return refuse


@contextlib.contextmanager
def _removed_if_empty(work):
    """Remove ``work`` on the way out if nothing was written into it (input refused)."""
    try:
        yield
    finally:
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()


def _evaluate(args, stem, work, settings: dict) -> int:
    """`run_async`'s work, with ``STEM.partial/`` held by this process."""
    resuming = _interrupted(work, settings, args.overwrite)
    if stem.with_suffix(".json").exists() and not (args.overwrite or resuming):
        raise ValueError(
            f"{stem}.json exists (an earlier `hogwild async` of this schedule): pass "
            "--overwrite to replace it."
        )

    from .experiments import async_evaluation, async_figure
    from .train import write_json

    write_json(work / "settings.json", settings)
    result = async_evaluation(
        args.run,
        **settings,
        progress=_keeping(work),
        tick=True,
        finished=_finished_runs(work),
        checkpoints=work,
    )
    write_json(stem.with_suffix(".json"), result)
    async_figure(result, stem.with_suffix(".png"))
    _keep_unfinished(work, result, args.max_time)
    print(result["certificate"]["summary"])
    print(
        f"synchronous {result['metric']} {result['sync']['metric']:.4f}; asynchronous "
        f"decrease {result['decrease_mean']:.2f} ± {result['decrease_std']:.2f} points; "
        f"max deviation {result['max_deviation']:.2e}; all reached the tolerance: "
        f"{result['all_converged']}"
    )
    print(f"wrote {stem}.json and {stem}.png", file=sys.stderr)
    return 0


def _interrupted(work, settings: dict, overwrite: bool) -> bool:
    """Whether ``work`` (``STEM.partial/``) holds an evaluation to continue.

    An evaluation keeps its settings, its finished runs (``runs.jsonl``) and the checkpoint
    of the run in progress there until it ends, so the same command after a kill continues
    it; one whose runs ended on their time budget keeps them there too (`_keep_unfinished`),
    and the same command with a larger ``--max-time`` continues those runs (`_extend`).
    One made with other settings is refused (ValueError, before any work), or discarded
    with ``overwrite``."""
    from .experiments._async_eval import extends_budget

    saved = work / "settings.json"
    if not saved.is_file():
        return False
    earlier = json.loads(saved.read_text())
    if earlier == settings:
        return True
    if extends_budget(earlier, settings) and not overwrite:
        _extend(work, earlier["max_time"], settings["max_time"])
        return True
    if not overwrite:
        raise ValueError(
            f"{work} holds an interrupted evaluation with other settings ({earlier}): rerun "
            "with those flags (or a larger --max-time) to continue it, or pass --overwrite "
            "to start afresh."
        )
    _empty(work)
    return False


def _empty(work) -> None:
    """Remove what ``work`` holds, keeping the directory (and this process's lock on it)."""
    for path in work.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _extend(work, budget: int, larger: int) -> None:
    """Forget the runs of ``work`` that ended on the time budget ``budget`` (their
    checkpoints stay, so they continue from there) and say so: the evaluation goes on to
    ``larger``, and its result will replace the one of the smaller budget."""
    from .experiments._async_eval import out_of_budget
    from .train import write_atomic

    entries = read_json_lines(work / "runs.jsonl")
    kept = [e for e in entries if not out_of_budget(e)]
    text = "".join(json.dumps(e) + "\n" for e in kept)
    write_atomic(work / "runs.jsonl", text.encode())
    print(
        f"continuing {len(entries) - len(kept)} asynchronous runs that ended on the "
        f"{budget:,}-step budget to {larger:,} ({len(kept)} finished runs kept); the result "
        "of the smaller budget will be replaced.",
        file=sys.stderr,
    )


def _keep_unfinished(work, result: dict, budget: int) -> None:
    """Remove ``work``, unless some run ended on its time budget: then its checkpoints and
    finished runs stay, for a larger ``--max-time`` to continue (said on stderr)."""
    from .experiments._async_eval import out_of_budget

    ended = sum(out_of_budget(e) for e in result["async"])
    if not ended:
        shutil.rmtree(work, ignore_errors=True)
        return
    print(
        f"{ended} of {len(result['async'])} runs ended on the {budget:,}-step budget; their "
        f"state is kept in {work}: rerun with a larger --max-time to continue them.",
        file=sys.stderr,
    )


def _finished_runs(work) -> dict:
    """The asynchronous runs an interrupted evaluation finished, by schedule seed."""
    return {entry["seed"]: entry for entry in read_json_lines(work / "runs.jsonl")}


def _keeping(work):
    """The ``progress`` of the evaluation: keep each finished run (with its residual
    curve, for the figure; its settings are the directory's ``settings.json``), then print
    its line."""

    def keep(entry: dict) -> None:
        append_json_line(work / "runs.jsonl", entry)
        print_async_run(entry)

    return keep


def _result_stem(args):
    """Where the result goes: RUN/async-S{S}-D{D}[-m{β}][-block] (.json, .png)."""
    from pathlib import Path

    suffix = f"-m{args.momentum:g}" if args.momentum else ""
    suffix += "-block" if args.precondition else ""
    return Path(args.run) / f"async-S{args.stagger}-D{args.delay}{suffix}"


def print_async_run(entry: dict) -> None:
    """One line per finished asynchronous run (stderr)."""
    print(
        f"  seed {entry['seed']}: metric {entry['metric']:.4f}  deviation "
        f"{entry['deviation']:.2e}  steps {entry['steps']}  residual "
        f"{entry['final_residual']:.1e} ({_ending(entry)})"
        f"  max staleness {entry['max_staleness']}",
        file=sys.stderr,
        flush=True,
    )
