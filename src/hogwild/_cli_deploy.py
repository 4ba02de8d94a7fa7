"""``hogwild deploy --run DIR``: a trained model on Ray shards, with faults, to agreement."""

from __future__ import annotations

import sys
from pathlib import Path


def add_deploy_parser(sub) -> None:
    dep = sub.add_parser("deploy", help="run a trained model on Ray actors (real asynchrony)")
    dep.add_argument("--run", required=True, help="run directory written by `train`")
    dep.add_argument("--graph", type=int, default=0, help="which test graph (0)")
    dep.add_argument("--shards", type=int, default=4, help="Ray actors, nodes split among them (4)")
    dep.add_argument("--shard-size", type=int, help="nodes per actor instead (1: one per node)")
    dep.add_argument("--loss", type=float, default=0.0, help="message loss probability (0)")
    dep.add_argument("--duplicate", type=float, default=0.0, help="duplication probability (0)")
    dep.add_argument("--delay", type=float, default=0.0, help="extra delay up to this, s (0)")
    dep.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="KIND:TARGET[-OTHER]@SECONDS[:DURATION]",
        help="crash:2@1.5[:snapshot], link_down:0-1@1:2, leave:17@3, join:17@5, "
        "drop_edge:3-4@1, add_edge:3-4@2 (repeatable)",
    )
    dep.add_argument("--tol", type=float, default=1e-3, help="agreement tolerance (1e-3)")
    dep.add_argument("--timeout", type=float, default=120.0, help="seconds before giving up")
    dep.add_argument("--period", type=float, default=0.005, help="seconds between ticks")
    dep.add_argument("--step-size", help="energies: a number, 'sync' or 'minimiser' (default)")
    dep.add_argument("--address", help="an existing Ray cluster (default: a local instance)")
    dep.add_argument("--seed", type=int, default=0, help="seed of the clocks and faults (0)")
    dep.add_argument("--x64", action="store_true", help="float64 states")


def _checked(args):
    """Everything from the flags that can be refused before Ray starts."""
    from .runtime import Faults, parse_event

    faults = Faults(args.loss, args.duplicate, args.delay)
    events = tuple(parse_event(text) for text in args.event)
    if args.shard_size is None and args.shards < 1:
        raise ValueError(f"--shards must be >= 1; got {args.shards}.")
    for name in ("tol", "timeout", "period"):
        if not getattr(args, name) > 0:
            raise ValueError(f"--{name} must be > 0; got {getattr(args, name)}.")
    step = args.step_size
    if step not in (None, "sync", "minimiser"):
        try:
            step = float(step)
        except ValueError:
            raise ValueError(f"--step-size must be a number, 'sync' or 'minimiser'; got {step!r}.")
    return faults, events, step


def _graph(args, data):
    if not 0 <= args.graph < len(data.test):
        raise ValueError(
            f"--graph must be in 0..{len(data.test) - 1} (test graphs); got {args.graph}."
        )
    graph = data.test[args.graph]
    if data.level == "graph" and any(e.kind in ("leave", "join") for e in args.events):
        raise ValueError("leave / join events need a node-level task (a graph-level readout "
                         "averages over every node).")  # fmt: skip
    return graph


def deploy(args) -> int:
    from .runtime import Deployment, RunSettings
    from .runtime._figure import runtime_figure
    from .train import load_run, write_json

    faults, args.events, step = _checked(args)
    config, data, model = load_run(args.run)
    graph = _graph(args, data)
    print(
        f"deploying {config.model} ({model.family}) on test graph {args.graph} of {config.task} "
        f"({graph.num_nodes} nodes) over Ray; starting the actors...",
        file=sys.stderr,
        flush=True,
    )
    with Deployment(
        model, graph, shards=args.shards, shard_size=args.shard_size, faults=faults,
        period=args.period, step_size=step, address=args.address, x64=args.x64,
    ) as dep:  # fmt: skip
        settings = RunSettings(args.events, args.tol, args.timeout, seed=args.seed)
        result = dep.run(settings)
    result.update(run=str(args.run), task=config.task, graph=args.graph)
    out = Path(args.run)
    write_json(out / "deploy.json", result)
    runtime_figure(result, out / "deploy.png", f"{config.model} on {config.task}, Ray")
    _print(result)
    print(f"wrote {out}/deploy.json and deploy.png", file=sys.stderr)
    return 0 if result["agreed"] or result["family"] == "explicit" else 1


def _print(result: dict) -> None:
    for event in result["events"]:
        print(f"  {event['time']:7.2f}s  {event['event']}")
    sync = result["synchronous"]
    if result["agreed"]:
        a = result["to_agreement"]
        print(
            f"agreement (every prediction within {result['tol']:g} of the synchronous one) after "
            f"{a['time']:.2f} s, {a['messages']} messages ({a['bytes'] / 1e3:.0f} kB), "
            f"{a['updates']} node updates"
        )
    else:
        state = "DIVERGED" if result["diverged"] else "no agreement"
        print(f"{state}: final deviation {result['final_deviation']}")
    print(f"a synchronous implementation: {sync['rounds']} rounds, {sync['messages']} messages")
    lost = sum(s["lost"] for s in result["shards"])
    ignored = sum(s["ignored"] for s in result["shards"])
    sent = sum(s["messages"] for s in result["shards"])
    print(f"messages sent {sent}, lost {lost}; stale or duplicate packets ignored {ignored}")
