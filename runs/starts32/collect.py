"""Collect the multi-start runs of runs/starts32 into results/multistart.jsonl (one line per
finished run; rerun to refresh)."""
import json
from pathlib import Path

lines = []
for out in sorted(Path("runs/starts32").glob("**/metrics.json")):
    run = out.parent
    m = json.loads(out.read_text())
    c = json.loads((run / "config.json").read_text())
    if "starts" not in m:
        continue
    key = m["primary_metric"]
    s = m["starts"]
    lines.append({
        "task": c["task"], "model": c["model"], "fold": c["task_options"]["seed"],
        "seed": c["train"]["seed"], "learning_rate": c["train"]["learning_rate"],
        "epochs": c["train"]["epochs"], "patience": c["train"]["patience"],
        "starts": c["train"]["starts"], "start_epochs": c["train"]["start_epochs"],
        "chosen": s["chosen"], "start_seeds": [t["seed"] for t in s["trials"]],
        "trial_validation_losses": [t["best_validation_loss"] for t in s["trials"]],
        "metric": key, "test": 100 * m["test"][key], "validation": 100 * m["validation"][key],
        "best_epoch": m["best_epoch"], "epochs_run": m["epochs_run"],
        "seconds": m["train_seconds"] + sum(t.get("seconds", 0) for t in s["trials"] if t["start"] != s["chosen"]),
        "run": str(run),
    })
Path("results/multistart.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
print(len(lines), "runs")
