"""Copy results/table1_table.md into results/table1.md, replacing the block that runs from
the table's header line through the last "...: N runs, ... in all." line."""
from pathlib import Path

from hogwild.train import write_atomic

doc, table = Path("results/table1.md"), Path("results/table1_table.md").read_text().strip()
lines = doc.read_text().split("\n")
start = next(i for i, line in enumerate(lines) if line.startswith("| model | chains"))
end = max(i for i, line in enumerate(lines) if line.endswith("of training time in all."))
write_atomic(doc, "\n".join([*lines[:start], table, *lines[end + 1 :]]).encode())
