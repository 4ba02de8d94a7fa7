"""Compare the training histories of runs epoch by epoch: python compare.py DIR... (first bitwise
difference of train_loss against the first DIR, and losses every 100 epochs)."""
import json
import sys

H = {d: [json.loads(line) for line in open(f"{d}/history.jsonl")] for d in sys.argv[1:]}
ref, *others = H
for d in others:
    n = min(len(H[ref]), len(H[d]))
    diff = [e for e in range(n) if H[ref][e]["train_loss"] != H[d][e]["train_loss"]]
    print(f"{d} vs {ref}: {n} common epochs, first difference at epoch", diff[0] + 1 if diff else None)
for e in range(99, max(map(len, H.values())), 100):
    cells = [f"{H[d][e]['train_loss']:.4f}/{H[d][e]['validation_error']:.3f}" if e < len(H[d]) else "-" for d in H]
    print(e + 1, *cells)
for d in H:
    best = min(H[d], key=lambda r: r["validation_loss"])
    print(d, "epochs", len(H[d]), "best", best["epoch"], f"{best['validation_loss']:.4f}", best["validation_error"])
