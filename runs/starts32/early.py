"""Table 1's paper counting energy-edge cell: in each fold, which parameter seed had the
worst best-so-far validation loss at epoch 400 (from the runs' history.jsonl)."""
import json

rows = {(r["fold"], r["seed"]): r for r in map(json.loads, open("results/table1.jsonl"))
        if r.get("protocol") == "paper" and r["task"] == "counting" and r["model"] == "energy-edge"}
worst = []
for f in range(10):
    best = {}
    for s in range(5):
        h = [json.loads(x) for x in open(f"runs/table1/paper/counting/energy-edge/fold{f}-seed{s}/history.jsonl")]
        best[s] = min(x["validation_loss"] for x in h if x["epoch"] <= 400)
    worst.append(max(best, key=best.get))
print("worst seed at epoch 400, folds 0-9:", worst, "- seed 1 in", worst.count(1), "of 10")
