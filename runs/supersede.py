"""Move Table 1 rows of one protocol, task and model from results/table1.jsonl to
results/table1_superseded.jsonl, each with the reason, when a protocol change makes their cell
rerun: python runs/supersede.py PROTOCOL TASK MODEL "REASON". Rewrites both files atomically;
a reason already applied moves nothing (the cell's rows are then its rerun). `supersede` is shared with runs/supersede34.py."""
import json
import sys
from pathlib import Path

from hogwild.train import read_json_lines, write_atomic


def supersede(superseded, reason: str) -> None:
    """Move the rows for which ``superseded(row)`` holds, each with ``reason``."""
    table, old = Path("results/table1.jsonl"), Path("results/table1_superseded.jsonl")
    if any(r.get("superseded") == reason for r in read_json_lines(old)):
        print(f"already applied ({reason!r}): the cell's rows now are its rerun; nothing moved")
        return
    rows = read_json_lines(table)
    moved = [{**r, "superseded": reason} for r in rows if superseded(r)]
    kept = [r for r in rows if not superseded(r)]
    lines = lambda rs: "".join(json.dumps(r) + "\n" for r in rs)  # noqa: E731
    write_atomic(old, (lines(read_json_lines(old)) + lines(moved)).encode())
    write_atomic(table, lines(kept).encode())
    print(f"moved {len(moved)} rows to {old}; {len(kept)} stay")


if __name__ == "__main__":
    protocol, task, model, reason = sys.argv[1:5]
    supersede(lambda r: (r["protocol"], r["task"], r["model"]) == (protocol, task, model), reason)
