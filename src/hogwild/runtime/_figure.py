"""The trace of a run as a figure: deviation and residual against wall time, events marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def runtime_figure(result: dict, path, title: str = "") -> None:
    """Two panels sharing wall time: the largest prediction deviation from the synchronous
    answer (log scale, the tolerance dashed) and the residual; a vertical line per event."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trace = result["trace"]
    times = np.array([p["time"] for p in trace])
    fig, axes = plt.subplots(2, 1, figsize=(7.0, 5.0), sharex=True)
    for ax, key in zip(axes, ("deviation", "residual")):
        values = np.array([p[key] for p in trace], float)
        ax.plot(times, np.maximum(values, 1e-12), color="C0")
        ax.set_yscale("log")
        ax.set_ylabel("max |prediction − sync|" if key == "deviation" else "residual")
        for event in result["events"]:
            ax.axvline(event["time"], color="C3", lw=0.8, ls=":")
    axes[0].axhline(result["tol"], color="k", lw=0.8, ls="--")
    for event in result["events"]:
        axes[0].annotate(event["event"], (event["time"], 1.0), xycoords=("data", "axes fraction"),
                         rotation=90, va="top", ha="right", fontsize=7, color="C3")  # fmt: skip
    axes[1].set_xlabel("wall time (s)")
    axes[0].set_title(title or f"{result['model']} on {len(result['shards'])} shards")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
