"""results/spike_guard.png: chains energy-edge fold 1 / seed 1 (reduced protocol) with and without
the spike guard: training loss and validation error per epoch, rollbacks marked.
python runs/guard34/plot.py (needs runs/bisect33/default33-f1s1 and runs/guard34/f1s1)."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RUNS = {"without the guard": "runs/bisect33/default33-f1s1", "spike_guard 1.2": "runs/guard34/f1s1"}
fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
for (label, run), colour in zip(RUNS.items(), ("tab:red", "tab:blue")):
    h = [json.loads(line) for line in open(f"{run}/history.jsonl")]
    epochs = [r["epoch"] for r in h]
    top.plot(epochs, [r["train_loss"] for r in h], color=colour, lw=0.8, label=label)
    bottom.plot(epochs, [100 * r["validation_error"] for r in h], color=colour, lw=0.8)
    back = [r["epoch"] for a, r in zip(h, h[1:]) if r.get("rollbacks", 0) > a.get("rollbacks", 0)]
    for e in back:
        top.axvline(e, color=colour, ls=":", lw=0.8)
top.axhline(0.688, color="grey", lw=0.5, ls="--")
top.text(4900, 0.70, "constant predictor", ha="right", fontsize=8, color="grey")
top.set_ylabel("training loss")
top.set_yscale("log")
top.legend(title="dotted: rollbacks (lr halved)", fontsize=8)
bottom.set_ylabel("validation error (%)")
bottom.set_xlabel("epoch")
top.set_title("Chains (100 nodes), energy-edge, fold 1 / seed 1, lr 0.003, Newton at 1e-6")
fig.tight_layout()
fig.savefig("results/spike_guard.png", dpi=120)
