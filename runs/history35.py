"""Best-so-far validation loss and error, and training seconds, of run directories at given
epochs (from their history.jsonl): python runs/history35.py EPOCHS RUN... (EPOCHS: 59,400,1600)."""
import json
import sys

epochs = [int(e) for e in sys.argv[1].split(",")]
for run in sys.argv[2:]:
    h = [json.loads(x) for x in open(f"{run}/history.jsonl")]
    cells = []
    for e in epochs:
        upto = [x for x in h if x["epoch"] <= e]
        if upto:
            err = min(x.get("validation_error", float("nan")) for x in upto)
            cells.append(f"@{e}: loss {min(x['validation_loss'] for x in upto):.3f} "
                         f"error {err:.3f} {upto[-1]['seconds']:.0f}s")
    print(run, " | ".join(cells))
