"""Move the reduced protocol's chains rows of the energy models from results/table1.jsonl to
results/table1_superseded.jsonl, each with the reason: since 2026-12-05 (session 34) the reduced
protocol trains chains with the spike guard (`spike_guard` 1.2), so those cells are rerun.
Rewrites both files atomically; running it twice moves nothing more."""
import json
from pathlib import Path

from hogwild.train import read_json_lines, write_atomic

REASON = "2026-12-05: reduced protocol trains chains with spike_guard 1.2; cell rerun"
table, old = Path("results/table1.jsonl"), Path("results/table1_superseded.jsonl")
rows = read_json_lines(table)


def superseded(r):
    return r["protocol"] == "reduced" and r["task"] == "chains" and r["model"].startswith("energy")


moved = [{**r, "superseded": REASON} for r in rows if superseded(r)]
kept = [r for r in rows if not superseded(r)]
lines = lambda rs: "".join(json.dumps(r) + "\n" for r in rs)  # noqa: E731
write_atomic(old, (lines(read_json_lines(old)) + lines(moved)).encode())
write_atomic(table, lines(kept).encode())
print(f"moved {len(moved)} rows to {old}; {len(kept)} stay")
