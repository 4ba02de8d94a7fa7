"""``hogwild async``: hogwild inference of a trained run under a chosen schedule, with
its certificate, table line and figure (`hogwild.experiments.async_evaluation`)."""

from __future__ import annotations

import sys


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

    from .asynchrony import Schedule, check_schedule

    if args.runs < 1 or args.graphs < 1:
        raise ValueError(f"--runs and --graphs must be >= 1; got {args.runs}, {args.graphs}.")
    if args.max_time < 1:
        raise ValueError(f"--max-time must be >= 1; got {args.max_time}.")
    check_schedule(Schedule(args.stagger, args.delay), args.max_time)  # before any loading
    step_size = _step_size(args.step_size)
    if not 0.0 <= args.momentum < 1.0:
        raise ValueError(f"--momentum must be in [0, 1); got {args.momentum}.")
    stem = _result_stem(args)
    if stem.with_suffix(".json").exists() and not args.overwrite:
        raise ValueError(
            f"{stem}.json exists (an earlier `hogwild async` of this schedule): pass "
            "--overwrite to replace it."
        )

    from .experiments import async_evaluation, async_figure
    from .train import write_json

    result = async_evaluation(
        args.run,
        stagger=args.stagger,
        delay=args.delay,
        runs=args.runs,
        graphs=args.graphs,
        step_size=step_size,
        max_time=args.max_time,
        x64=args.x64,
        progress=print_async_run,
        momentum=args.momentum,
        precondition=args.precondition,
        tick=True,
    )
    write_json(stem.with_suffix(".json"), result)
    async_figure(result, stem.with_suffix(".png"))
    print(result["certificate"]["summary"])
    print(
        f"synchronous {result['metric']} {result['sync']['metric']:.4f}; asynchronous "
        f"decrease {result['decrease_mean']:.2f} ± {result['decrease_std']:.2f} points; "
        f"max deviation {result['max_deviation']:.2e}; all reached the tolerance: "
        f"{result['all_converged']}"
    )
    print(f"wrote {stem}.json and {stem}.png", file=sys.stderr)
    return 0


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
