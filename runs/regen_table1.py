"""Regenerate results/table1_table.md and table1.png from results/table1.jsonl (what
`hogwild reproduce table1` writes at its end), then sync the table into table1.md."""
import subprocess
from pathlib import Path

from hogwild._cli_cells import _tables
from hogwild.experiments import _table1 as t1
from hogwild.train import write_atomic

table = _tables()["table1"]
rows = t1.load_rows(Path("results/table1.jsonl"))
write_atomic(Path("results/table1_table.md"), table.markdown(rows).encode())
table.figure(rows, Path("results/table1.png"))
subprocess.run(["python", "runs/sync_table1.py"], check=True)
