"""How many unguarded run histories under runs/ have a training loss above 1.2 x its lowest so far
(a 'spike' the guard would undo): python runs/guard34/spikes.py. The guarded runs of session 34
(runs/guard34, the reduced chains cells in runs/table1) are left out."""
import glob
import json

histories = [
    p for p in sorted(glob.glob("runs/**/history.jsonl", recursive=True))
    if "guard34" not in p and "table1/reduced/chains" not in p
]
spiky = 0
for path in histories:
    lowest, spiked = float("inf"), False
    for line in open(path):
        loss = json.loads(line)["train_loss"]
        spiked |= loss > 1.2 * lowest
        lowest = min(lowest, loss)
    spiky += spiked
print(f"histories: {len(histories)}\nwith_a_spike: {spiky}")
