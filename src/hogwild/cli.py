"""The ``hogwild`` command line: train, evaluate, summarise, async, reproduce, models, tasks.

Library code never sees argparse: the CLI builds a `RunConfig` and calls `train_run` /
`evaluate_run`. Errors in user input end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time

from ._cache import enable_compilation_cache
from .models import MODELS, make_model
from .tasks import TASKS
from .train._checkpoint import CheckpointError
from .train._objective import validation_key

_TASK_FLAGS = {"graphs": "num_graphs", "length": "length", "classes": "num_classes"}
DEFAULT_TASK, DEFAULT_MODEL = "chains", "energy-edge"


def _parser() -> argparse.ArgumentParser:
    from .tasks import ChainsConfig
    from .train import TrainConfig

    chains, training = ChainsConfig(), TrainConfig()
    parser = argparse.ArgumentParser(prog="hogwild")
    sub = parser.add_subparsers(dest="command", required=True, title="commands")
    train = sub.add_parser("train", help="train a model on a task and save the run")
    train.add_argument(
        "--task", help=f"one of: {', '.join(sorted(TASKS))} (default {DEFAULT_TASK})"
    )
    train.add_argument("--model", help=f"one of: {', '.join(MODELS)} (default {DEFAULT_MODEL})")
    train.add_argument("--out", required=True, help="run directory to write (new or empty)")
    mode = train.add_mutually_exclusive_group()
    mode.add_argument(
        "--overwrite", action="store_true", help="replace the run in --out (its files are deleted)"
    )
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted or killed run in --out from its last checkpoint "
        "(same options, or none to use the saved ones)",
    )
    train.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="save the training state every N epochs (default: every 2 minutes)",
    )
    train.add_argument("--epochs", type=int, help=f"maximum epochs (default {training.epochs})")
    train.add_argument(
        "--patience", type=int, help=f"early-stopping patience in epochs ({training.patience})"
    )
    seeds = train.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help=f"parameter seed (default {training.seed})")
    seeds.add_argument(
        "--seeds",
        metavar="LIST",
        help="train several parameter seeds in one compiled program, e.g. 0-4 or 0,3,7; "
        "each run goes to OUT/seed-S",
    )
    train.add_argument("--lr", type=float, help=f"learning rate (default {training.learning_rate})")
    train.add_argument(
        "--data-seed", type=int, help=f"seed of the dataset split (default {chains.seed})"
    )
    train.add_argument("--graphs", type=int, help=f"chains: number of graphs ({chains.num_graphs})")
    train.add_argument("--length", type=int, help=f"chains: nodes per chain ({chains.length})")
    train.add_argument(
        "--classes", type=int, help=f"chains: number of classes p ({chains.num_classes})"
    )
    train.add_argument("--x64", action="store_true", help="train in float64")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any task, model or training option, e.g. --set decay_every=100 "
        "or --set kappa=0.5 (see `hogwild models` and `hogwild tasks`)",
    )
    train.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with --seeds: processes training side by side (default 1; 2 on 2 cores: 1.7x)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress lines")
    evaluate = sub.add_parser("evaluate", help="re-evaluate a saved run")
    evaluate.add_argument("--run", required=True, help="run directory written by `train`")
    summary = sub.add_parser("summarise", help="table of finished runs beside the paper")
    summary.add_argument("runs", nargs="+", help="run directories")
    summary.add_argument("--task", default="chains", help="which paper column to compare with")
    summary.add_argument("--figure", help="also save a bar chart (PNG) here")
    models = sub.add_parser("models", help="list the registered models")
    models.add_argument("--task", default="chains", help="count parameters for this task")
    sub.add_parser("tasks", help="list the registered tasks and their options")
    rep = sub.add_parser("reproduce", help="regenerate a figure or table of the paper")
    rep.add_argument(
        "what",
        choices=[
            "figure1",
            "table1",
            "table2",
            "table3",
            "table4",
            "conditioning",
            "staleness",
            "instances",
            "reach",
        ],
        help="which one (staleness: hogwild inference of trained RUNS against B = 1..50; "
        "instances: each cell's best-on-validation run into OUT/instances/TASK/MODEL; "
        "reach: how far trained chains RUNS carry the class, hop by hop)",
    )
    rep.add_argument(
        "--protocol",
        default="reduced",
        help="table1/3/4: reduced (default) or paper; table3 also reduced-bonds (MUTAG with "
        "bond types as edge features, a variant) and test-selected (Gu et al.'s selection on "
        "the test fold: a diagnostic, never a row)",
    )
    rep.add_argument(
        "--cell", action="append", default=[], metavar="TASK:MODEL", help="table1/3/4: only these"
    )
    rep.add_argument("--runs-dir", default=None, help="table1/3/4, conditioning: run dirs here")
    rep.add_argument(
        "--workers", type=int, default=1, help="table1/3/4: processes side by side (1)"
    )
    rep.add_argument(
        "--status",
        action="store_true",
        help="table1/3/4: say where each cell stands (recorded, training elsewhere, "
        "resumable, not started) and train nothing; table2: where each row and "
        "asynchronous run stands (recorded, finished, resumable, not started)",
    )
    rep.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="table1/3/4: only the protocol's first N parameter seeds (every fold of each)",
    )
    rep.add_argument(
        "--epochs", type=int, default=600, help="conditioning: epochs per training (600)"
    )
    rep.add_argument(
        "--penalties",
        default=None,
        help="conditioning: train condition_penalty targets (e.g. 1000,100) instead of bounds",
    )
    rep.add_argument(
        "--tasks", default=None, help="conditioning: only these tasks (chains,counting)"
    )
    rep.add_argument(
        "runs",
        nargs="*",
        help="table2 / staleness: trained run directories (best validation loss per model); "
        "reach: finished chains runs (each one)",
    )
    rep.add_argument("--out", default="results", help="directory for the outputs (results)")
    rep.add_argument(
        "--bounds",
        default="1,2,3,5,7,10,15,20,30,50",
        help="staleness: the bounds B = S + D to sweep (1,2,3,5,7,10,15,20,30,50)",
    )
    rep.add_argument(
        "--async-runs", type=int, default=5, help="table2 / staleness: runs per model (5)"
    )
    rep.add_argument("--graphs", type=int, default=10, help="table2: test graphs (10)")
    rep.add_argument("--x64", action="store_true", help="table2 / staleness: infer in float64")
    rep.add_argument(
        "--replace",
        action="store_true",
        help="instances: replace a kept instance whose cell now has a better run",
    )
    rep.add_argument(
        "--precondition",
        action="store_true",
        help="table2 / staleness: block-Jacobi steps for energies (`async --precondition`)",
    )
    rep.add_argument(
        "--every-run",
        action="store_true",
        help="table2: every given run, not the best on validation; writes table2_spread.md",
    )
    rep.add_argument(
        "--max-time",
        type=int,
        default=100_000,
        help=(
            "table2 / staleness: steps per run (table2: a larger one into the same --out "
            "continues the runs that ended on the old one)"
        ),
    )
    rep.add_argument(
        "--step-size",
        default="sync",
        help="table2 / staleness: energies' alpha: sync (1/K1), minimiser (1/K1*), safe, number",
    )
    from ._cli_deploy import add_deploy_parser

    add_deploy_parser(sub)
    hog = sub.add_parser("async", help="hogwild inference of a trained run vs. synchronous")
    hog.add_argument("--run", required=True, help="run directory written by `train`")
    hog.add_argument("--stagger", type=int, default=4, help="S: next update within S steps (4)")
    hog.add_argument("--delay", type=int, default=3, help="D: views up to D steps old (3)")
    hog.add_argument("--runs", type=int, default=5, help="asynchronous runs (seeds 0..K-1) (5)")
    hog.add_argument("--graphs", type=int, default=10, help="test graphs to use (10)")
    hog.add_argument(
        "--step-size",
        help="alpha for energies: a number, 'safe' (certified, default), 'sync' (1/K1) or "
        "'minimiser' (1/K1*, the curvature at H* alone: fastest, not certified)",
    )
    hog.add_argument(
        "--momentum",
        type=float,
        default=0.0,
        help="heavy-ball beta in [0, 1) for energies (default 0; > 0 is not certified)",
    )
    hog.add_argument(
        "--precondition",
        action="store_true",
        help="block-Jacobi steps for energies: each node scales its step by the inverse of "
        "its own diagonal Hessian block (default step: its certificate's)",
    )
    hog.add_argument(
        "--max-time",
        type=int,
        default=100_000,
        help="time budget in steps (a larger one continues the runs that ended on the last)",
    )
    hog.add_argument("--x64", action="store_true", help="infer in float64 (tighter agreement)")
    hog.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier result of the same schedule in the run directory",
    )
    parser.description = (
        "Graph neural networks under asynchrony (hogwild inference). Commands: "
        f"{', '.join(sub.choices)}; `hogwild COMMAND --help` describes each."
    )
    return parser


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _overrides(args) -> tuple[dict, dict, dict]:
    """(task options, training options, model options) from the flags and ``--set``."""
    from .train import TrainConfig

    task_fields = {f.name for f in dataclasses.fields(TASKS[args.task][0])}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    model_fields = set(MODELS[args.model].options)
    model: dict = {}
    task = {
        name: getattr(args, flag)
        for flag, name in _TASK_FLAGS.items()
        if getattr(args, flag) is not None
    }
    for flag, name in _TASK_FLAGS.items():
        if name in task and name not in task_fields:
            raise ValueError(
                f"--{flag} does not apply to task {args.task!r}; its options: "
                f"{', '.join(sorted(task_fields))} (set them with --set KEY=VALUE)."
            )
    if args.data_seed is not None:
        task["seed"] = args.data_seed
    train = {
        k: v
        for k, v in {
            "epochs": args.epochs,
            "patience": args.patience,
            "seed": args.seed,
            "learning_rate": args.lr,
        }.items()
        if v is not None
    }
    train["x64"] = args.x64
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE; got {item!r}.")
        if key in task_fields:
            task[key] = _parse_value(value)
        elif key in train_fields:
            train[key] = _parse_value(value)
        elif key in model_fields:
            model[key] = _parse_value(value)
        else:
            valid = sorted(task_fields | train_fields | model_fields)
            raise ValueError(f"unknown option {key!r}; valid: {', '.join(valid)}.")
    return task, train, model


def _eta(record: dict, total: int, first: list) -> str:
    """Time left at the pace of the epochs after the first (which includes compiling);
    early stopping may end sooner."""
    if first[0] is None:
        first[0] = (record["epoch"], record["seconds"])
        return ""
    epochs, seconds = record["epoch"] - first[0][0], record["seconds"] - first[0][1]
    if epochs <= 0 or total <= record["epoch"]:
        return ""
    left = (total - record["epoch"]) * seconds / epochs
    return f"  ETA {left / 60:.0f} min" if left >= 120 else f"  ETA {left:.0f}s"


def _rollback_note(record: dict) -> str:
    """What the spike guard did at this epoch, if anything."""
    if "rolled_back_to" not in record:
        return ""
    k, why = record["rollbacks"], record.get("diverged", "loss spike")
    return f"  ({why}: back to epoch {record['rolled_back_to']}, learning rate × 2^-{k})"


def _progress(record: dict, every: int, started: list, total: int, first: list) -> None:
    """One line at epoch 1, every ``every`` epochs and at least every 5 seconds."""
    now = time.perf_counter()
    eta = "" if "start" in record else _eta(record, total, first)
    event = "solver" in record or "rolled_back_to" in record
    quiet = record["epoch"] != 1 and record["epoch"] % every and not event
    if quiet and now - started[0] < 5:
        return
    started[0] = now
    metric = validation_key(record)
    print(
        (f"start {record['start']}  " if "start" in record else "")
        + f"epoch {record['epoch']:5d}  train loss {record['train_loss']:.4f}  "
        f"val loss {record['validation_loss']:.4f}  {metric.split('_', 1)[1]} {record[metric]:.4f}"
        f"  steps: solve {record['solver_steps']:.1f}, adjoint {record['adjoint_steps']:.1f}"
        f"  unconverged {record['solver_unconverged']}/{record['adjoint_unconverged']}"
        + (f"  K1/mu {record['condition']:.0f}" if "condition" in record else "")
        + f"  {record['seconds']:.0f}s{eta}"
        + (f"  (L-BFGS outpaced: {record['solver']} from now on)" if "solver" in record else "")
        + _rollback_note(record),
        file=sys.stderr,
        flush=True,
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_RUN_FLAGS = ("task", "model", "epochs", "patience", "seed", "lr", "data_seed", *_TASK_FLAGS)


def _run_config(args, out=None):
    """The `RunConfig` the flags describe; with ``--resume`` and no options, the one saved
    in ``out`` (default ``--out``)."""
    from pathlib import Path

    from .train import RunConfig, RunDirError, TrainConfig

    typed = any(getattr(args, f) is not None for f in _RUN_FLAGS) or args.set or args.x64
    if args.resume and not typed:
        saved = Path(out or args.out) / "config.json"
        if not saved.is_file():
            raise RunDirError(f"--resume: {out or args.out} holds no run (no config.json).")
        return RunConfig.from_json(json.loads(saved.read_text()))
    args.task, args.model = args.task or DEFAULT_TASK, args.model or DEFAULT_MODEL
    if args.task not in TASKS:
        raise ValueError(f"unknown task {args.task!r}; valid: {', '.join(sorted(TASKS))}.")
    if args.model not in MODELS:
        raise ValueError(f"unknown model {args.model!r}; valid: {', '.join(MODELS)}.")
    task, train, model = _overrides(args)
    config = RunConfig(args.task, args.model, task, TrainConfig(**train), model)
    config.task_config()  # validates task options before any work
    make_model(args.model, 1, 0, 1, options=model)  # ... and model options (IGNN's kappa)
    return config


def _train(args) -> int:
    from .train import train_run

    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be >= 1; got {args.checkpoint_every}.")
    if args.workers < 1 or (args.workers != 1 and args.seeds is None):
        raise ValueError(f"--workers must be >= 1 and goes with --seeds; got {args.workers}.")
    if args.seeds is not None:
        from ._cli_seeds import train_seeds

        return train_seeds(args)
    config = _run_config(args)
    signal.signal(signal.SIGTERM, _interrupt)
    started = [time.perf_counter()]
    total, first = config.train.epochs, [None]
    progress = None if args.quiet else (lambda r: _progress(r, 100, started, total, first))
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
    try:
        metrics = train_run(
            config,
            args.out,
            progress,
            mode=mode,
            checkpoint_every=args.checkpoint_every,
            log=_log,
        )
    except KeyboardInterrupt:  # only while trying initialisations (--set starts=S)
        _log(
            f"interrupted while trying starts; continue with: hogwild train --out {args.out} "
            "--resume"
        )
        return 130
    _print_metrics(metrics)
    return _train_ending(metrics, args.out)


def _train_ending(metrics: dict, out) -> int:
    """Say how training ended; exit status 0 (finished), 3 (diverged), 130 (interrupted)."""
    for kind in ("solver", "adjoint"):
        s = metrics[f"train_{kind}"]
        if s["unconverged"]:
            what = "forward solves" if kind == "solver" else "adjoint (backward) solves"
            _log(
                f"note: {s['unconverged']} of {s['solves']} training {what} did not reach "
                f"their tolerance (largest residual {s['max_residual']:.2e})"
            )
    if metrics["diverged"]:
        _log(
            f"hogwild train: {metrics['stopped']}; kept the best model "
            f"(epoch {metrics['best_epoch']}) in {out}/checkpoint.eqx"
        )
        return 3
    if metrics["stopped"].startswith("interrupted"):
        _log(f"{metrics['stopped']}; continue with: hogwild train --out {out} --resume")
        return 130
    _log(f"wrote {out}/metrics.json, checkpoint.eqx, training.png")
    return 0


def _interrupt(signum, frame):
    """SIGTERM ends training like Ctrl-C: the best model so far is saved and evaluated."""
    del signum, frame
    raise KeyboardInterrupt


def _print_metrics(metrics: dict) -> None:
    from .train._baseline import has_not_learned

    if "test" not in metrics:  # final evaluation skipped
        return
    key = metrics["primary_metric"]
    for split in ("train", "validation", "test"):
        m = metrics[split]
        print(
            f"{split:>10}: {key} {m[key]:.4f}  loss {m['loss']:.4f}  "
            f"solver steps {m['solver']['mean_steps']:.0f} "
            f"(unconverged {m['solver']['unconverged']})"
        )
    if has_not_learned(metrics):
        constant = metrics["constant_predictor"]["validation"]
        _log(
            f"NOT LEARNED: validation {key} {metrics['validation'][key]:.4f} is no better than "
            f"the constant predictor's {constant:.4f} (training mean or majority class)"
        )


def _evaluate(args) -> int:
    from .train import evaluate_run

    _print_metrics(evaluate_run(args.run))
    print(f"wrote {args.run}/evaluation.json", file=sys.stderr)
    return 0


def _summarise(args) -> int:
    from .experiments import summarise_runs, summary_figure, summary_markdown

    summary = summarise_runs(args.runs)
    if not summary:
        raise FileNotFoundError("none of the given directories holds a metrics.json.")
    print(summary_markdown(summary, args.task), end="")
    if args.figure:
        summary_figure(summary, args.task, args.figure)
    return 0


def _models(args) -> int:
    from .train import parameter_counts

    if args.task not in TASKS:
        raise ValueError(f"unknown task {args.task!r}; valid: {', '.join(sorted(TASKS))}.")
    counts = parameter_counts(args.task)
    print(f"{'model':17} {'family':12} {'asynchrony':10} {'params':>6}  why / options")
    for spec in MODELS.values():
        robust = "robust" if spec.robust else "breaks"
        options = ", ".join(f"{k}={v}" for k, v in spec.options.items())
        print(f"{spec.name:17} {spec.family:12} {robust:10} {counts[spec.name]:6d}  {spec.why}")
        print(f"{'':49}options: {options}")
    print(f"(parameter counts on task {args.task!r} with its default options)")
    return 0


def _async(args) -> int:
    from ._cli_async import run_async

    return run_async(args)


def _reproduce(args) -> int:
    from ._cli_reproduce import reproduce

    return reproduce(args)


def _deploy(args) -> int:
    from ._cli_deploy import deploy

    return deploy(args)


def _tasks(_args) -> int:
    for name, (config_cls, _) in sorted(TASKS.items()):
        fields = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(config_cls))
        print(f"{name:10} {fields}")
    return 0


def _share_cpus(args) -> None:
    """Before JAX starts: a command beside other hogwild processes runs on the least
    shared CPU (`hogwild._cpus.pin_if_sharing`); one with ``--workers`` N > 1 pins its
    workers itself and only warns of unpinned neighbours."""
    from ._cpus import pin_if_sharing, warn_if_sharing

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if (getattr(args, "workers", None) or 1) > 1:
        warn_if_sharing(log)
    else:
        pin_if_sharing(log)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hogwild`` console script."""
    args = _parser().parse_args(argv)
    if args.command not in ("models", "tasks"):
        enable_compilation_cache()
    if args.command in ("train", "reproduce", "async", "evaluate"):
        _share_cpus(args)
    handlers = {
        "train": _train,
        "evaluate": _evaluate,
        "summarise": _summarise,
        "models": _models,
        "tasks": _tasks,
        "async": _async,
        "reproduce": _reproduce,
        "deploy": _deploy,
    }
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError, CheckpointError) as err:
        print(f"hogwild {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
