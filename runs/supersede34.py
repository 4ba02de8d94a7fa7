"""Move the reduced protocol's chains rows of the energy models from results/table1.jsonl to
results/table1_superseded.jsonl, each with the reason: since 2026-12-05 (session 34) the reduced
protocol trains chains with the spike guard (`spike_guard` 1.2), so those cells are rerun.
Rewrites both files atomically; once applied it moves nothing more (runs/supersede.py)."""
import sys

sys.path.insert(0, "runs")
from supersede import supersede  # noqa: E402

REASON = "2026-12-05: reduced protocol trains chains with spike_guard 1.2; cell rerun"
supersede(
    lambda r: r["protocol"] == "reduced" and r["task"] == "chains" and r["model"].startswith("energy"),
    REASON,
)
