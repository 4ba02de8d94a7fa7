"""How far a trained chains model carries its class (`hogwild reproduce reach RUNS`).

On chains only the head (hop 0) carries the class, so node d can be right only if its
state depends on x_0. All chains of a class are identical, so the p prototype chains (one
per class) say everything. The class signal at hop d is

    s_d = max_{a<b} ‖h*_d(class a) − h*_d(class b)‖_∞,

solved in float64 to ‖∇E‖ <= 1e-10 (a float32 solve to 1e-4 would hide any s_d below
about 1e-4 / β). Node d is right when every class is predicted right there.

For an energy whose Hessian couples nodes at most two hops apart (every variant here),
the linearised sensitivity obeys s_d <= C q^{d/2} with q = (√κ − 1) / (√κ + 1), κ = K₁/μ
(Demko, Moss & Smith, 1984, on inverses of banded positive definite matrices): at κ = 100
the signal may fall at most by q^{1/2} = 0.90 per hop (q^{50} ≈ 4e-5 over 100 hops), at
κ = 1e4 by 0.99. The measured decay per hop says how much of that room a model uses.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

#: Below this s_d a float64 solve to 1e-10 cannot tell two classes apart (1e-10 / β = 2.5e-9).
SIGNAL_FLOOR = 1e-8
SOLVE_TOL = 1e-10


def _states_and_labels(model, graph, kind: str, dtype):
    """(H*, predicted labels, solve statistics) of ``model`` on ``graph``; ``kind`` is the
    task's ("binary" or "multiclass")."""
    from ..solve import LBFGS, embed
    from ..train._objective import predicted_labels

    solver = None
    if model.family == "optimisation":
        solver = LBFGS(tol=SOLVE_TOL, max_steps=20_000)
    sol = embed(model, graph, solver=solver)
    labels = predicted_labels(kind, model.readout(graph, sol.value))
    return np.asarray(sol.value, dtype), np.asarray(labels), sol.stats


def _condition(model, graph, h) -> float | None:
    """κ = K₁/μ of ∇²E at H* for an energy, else None."""
    if model.family != "optimisation":
        return None
    from ..solve import condition_number

    k1, mu = condition_number(model, graph, h)
    return float(k1 / mu)


def profile(model, length: int, num_classes: int, kind: str) -> dict:
    """Class signal s_d and rightness per hop of ``model`` on the prototype chains; ``kind``
    is the task's (``Dataset.kind``: "binary" or "multiclass")."""
    from ..graph import batch_graphs
    from ..tasks.chains import make_chain
    from ..train import cast_model

    model = cast_model(model, np.float64)
    chains = [make_chain(length, k, num_classes) for k in range(num_classes)]
    graph = batch_graphs(chains, pad=False, dtype=np.float64)
    h_all, labels, stats = _states_and_labels(model, graph, kind, np.float64)
    real = np.asarray(graph.node_mask)
    h = h_all[real].reshape(num_classes, length, -1)
    labels = labels[real].reshape(num_classes, length)
    signal = np.zeros(length)
    for a in range(num_classes):
        for b in range(a + 1, num_classes):
            signal = np.maximum(signal, np.max(np.abs(h[a] - h[b]), axis=-1))
    right = np.all(labels == np.arange(num_classes)[:, None], axis=0)
    condition = _condition(model, graph, h_all)
    return {
        "signal": signal.tolist(),
        "right": right.tolist(),
        "nodes_right": int(right.sum()),
        "error": float(100 * np.mean(labels != np.arange(num_classes)[:, None])),
        "hops_above_floor": int(np.sum(signal >= SIGNAL_FLOOR)),
        "decay_per_hop": decay_per_hop(signal),
        "condition": condition,
        "bound_per_hop": slowest_decay(model, condition),
        "solve_converged": bool(np.all(np.asarray(stats.converged))),
    }


def decay_per_hop(signal) -> float | None:
    """Geometric mean ratio s_{d+1} / s_d from hop 1 to the last hop above the floor."""
    above = np.flatnonzero(np.asarray(signal) >= SIGNAL_FLOOR)
    last = int(above.max()) if above.size else 0
    if last <= 1 or signal[1] <= 0:
        return None
    return float((signal[last] / signal[1]) ** (1.0 / (last - 1)))


def slowest_decay(model, condition: float | None) -> float | None:
    """The slowest decay per hop the model allows: q^{1/2} from κ for an energy
    (`bound_per_hop`); for a contraction of gain κ per hop (IGNN: ‖θ_m‖ ≤ κ / λ_max(Ã)),
    κ itself, since node d sees the head only through walks of >= d hops:
    ‖∂h*_d/∂b_0‖ <= Σ_{k>=d} κ^k = κ^d / (1 − κ); None for explicit models (their reach
    is their L layers)."""
    if condition is not None:
        return bound_per_hop(condition)
    return getattr(model, "kappa", None)


def bound_per_hop(condition: float | None) -> float | None:
    """q^{1/2}, q = (√κ − 1) / (√κ + 1): the slowest decay per hop κ allows (module)."""
    if condition is None:
        return None
    root = math.sqrt(condition)
    return math.sqrt((root - 1.0) / (root + 1.0))


def reach(run) -> dict:
    """The reach of a finished chains run, trained and at its initialisation."""
    from ..train._run import build_model, load_run, model_spec

    config, data, model = load_run(run)
    if config.task != "chains":
        raise ValueError(f"{run} is a {config.task} run; reach reads chains runs only.")
    task = config.task_config()
    metrics = json.loads((Path(run) / "metrics.json").read_text())
    initial = build_model(model_spec(config, data), config.train.seed)
    trained, untrained = (
        profile(m, task.length, task.num_classes, data.kind) for m in (model, initial)
    )
    return {
        "run": str(run),
        "model": config.model,
        "seed": config.train.seed,
        "test": 100 * metrics["test"]["error"],
        "length": task.length,
        "trained": trained,
        "initial": untrained,
    }


def unconverged(row: dict) -> list[str]:
    """One message per profile of ``row`` whose solve missed `SOLVE_TOL` (its small s_d
    are then not resolved); the table marks the run too."""
    return [
        f"{row['run']} ({part}): the solve did not reach ‖∇E‖ <= {SOLVE_TOL:g}; "
        "its small class signals are not resolved"
        for part in ("trained", "initial")
        if not row[part]["solve_converged"]
    ]


def _fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def reach_markdown(rows: list[dict]) -> str:
    """One line per run: trained and initial reach side by side."""
    lines = [
        "| model | run | test (%) | nodes right (trained / init) | hops with s_d ≥ 1e-8 "
        "(trained / init) | decay per hop (trained / init) | κ at H* (trained) | slowest "
        "decay allowed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, i = r["trained"], r["initial"]
        flag = " (solve unconverged)" if unconverged(r) else ""
        lines.append(
            f"| {r['model']} | `{r['run']}`{flag} | {r['test']:.1f} | {t['nodes_right']} / "
            f"{i['nodes_right']} | {t['hops_above_floor']} / {i['hops_above_floor']} | "
            f"{_fmt(t['decay_per_hop'], '.3f')} / {_fmt(i['decay_per_hop'], '.3f')} | "
            f"{_fmt(t['condition'], '.3g')} | {_fmt(t['bound_per_hop'], '.3f')} |"
        )
    return "\n".join(lines) + "\n"


def reach_figure(rows: list[dict], path) -> None:
    """log10 s_d against hop d: trained (solid) and initial (dashed), one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for k, r in enumerate(rows):
        colour = f"C{k % 10}"
        label = f"{r['model']} seed {r['seed']} (test {r['test']:.1f} %)"
        for part, style in (("trained", "-"), ("initial", ":")):
            s = np.maximum(np.asarray(r[part]["signal"]), 1e-17)
            ax.semilogy(s, style, color=colour, label=label if part == "trained" else None)
    ax.axhline(SIGNAL_FLOOR, color="grey", lw=0.8)
    ax.set_xlabel("hop d from the head")
    ax.set_ylabel("class signal s_d (dotted: at initialisation)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
