"""Move Table 1 rows of one protocol, task and model from results/table1.jsonl to
results/table1_superseded.jsonl, each with the reason, when a protocol change makes their cell
rerun: python runs/supersede.py PROTOCOL TASK MODEL "REASON". Rewrites both files atomically;
running it twice moves nothing more. (runs/supersede34.py did the same for session 34's change.)"""
import json
import sys
from pathlib import Path

from hogwild.train import read_json_lines, write_atomic

protocol, task, model, reason = sys.argv[1:5]
table, old = Path("results/table1.jsonl"), Path("results/table1_superseded.jsonl")
rows = read_json_lines(table)


def superseded(r):
    return (r["protocol"], r["task"], r["model"]) == (protocol, task, model)


moved = [{**r, "superseded": reason} for r in rows if superseded(r)]
kept = [r for r in rows if not superseded(r)]
lines = lambda rs: "".join(json.dumps(r) + "\n" for r in rs)  # noqa: E731
write_atomic(old, (lines(read_json_lines(old)) + lines(moved)).encode())
write_atomic(table, lines(kept).encode())
print(f"moved {len(moved)} rows to {old}; {len(kept)} stay")
