"""Training curves as a PNG."""

from __future__ import annotations

from pathlib import Path

from ._objective import validation_key


def plot_history(history: list[dict], path: str | Path, title: str = "") -> None:
    """Train / validation loss and the validation metric against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot(epochs, [r["train_loss"] for r in history], label="train")
    ax1.plot(epochs, [r["validation_loss"] for r in history], label="validation")
    ax1.set(xlabel="epoch", ylabel="loss", yscale="log", title=title)
    ax1.legend()
    metric = validation_key(history[0])
    ax2.plot(epochs, [r[metric] for r in history], color="C1")
    ax2.set(xlabel="epoch", ylabel=metric.replace("_", " "))
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
