"""Counting energy-edge, paper protocol, parameter seed 1: Table 1's rows against the same
runs with two starts (runs/starts32/run.sh)."""
import json
import os
import statistics as st

rows = {
    (r["fold"], r["seed"]): r
    for r in map(json.loads, open("results/table1.jsonl"))
    if r.get("protocol") == "paper" and r["task"] == "counting" and r["model"] == "energy-edge"
}
new, chosen, extra = {}, {}, []
for f in range(10):
    p = f"runs/starts32/fold{f}-seed1/metrics.json"
    if os.path.exists(p):
        m = json.load(open(p))
        new[f] = 100 * m["test"]["relative_rmse"]
        chosen[f] = m["starts"]["chosen"]
        extra.append(sum(t.get("seconds", 0) for t in m["starts"]["trials"] if t["start"] != m["starts"]["chosen"]))
print("runs:", len(new), "continued start 1 in", sum(chosen.values()))
print("table1 seed 1:", [round(rows[f, 1]["test"], 1) for f in new], "mean", round(st.mean(rows[f, 1]["test"] for f in new), 1))
print("two starts:   ", [round(new[f], 1) for f in new], "mean", round(st.mean(new.values()), 1),
      "std", round(st.stdev(new.values()), 1), "median", round(st.median(new.values()), 1))
cell = [r["test"] for (f, s), r in rows.items() if s != 1] + list(new.values())
print("cell, seed 1 with two starts:", len(cell), round(st.mean(cell), 2), "+-", round(st.stdev(cell), 2), "median", round(st.median(cell), 2))
print("cell as in Table 1:", round(st.mean(r["test"] for r in rows.values()), 2), "+-", round(st.stdev(r["test"] for r in rows.values()), 2))
print("discarded trial seconds (runs that record them):", [round(x) for x in extra if x])

# The whole two-start cell (runs/starts32/counting-all.sh: seeds 0, 2, 3, 4), where trained.
two = {(f, 1): v for f, v in new.items()}
for f in range(10):
    for s in (0, 2, 3, 4):
        p = f"runs/starts32/counting/fold{f}-seed{s}/metrics.json"
        if os.path.exists(p):
            m = json.load(open(p))
            two[f, s] = 100 * m["test"]["relative_rmse"]
others = sorted(k for k in two if k[1] != 1)
if others:
    same = [k for k in others if abs(two[k] - rows[k]["test"]) < 1e-9]
    print(f"seeds 0, 2, 3, 4 with two starts: {len(others)} runs, {len(same)} identical to Table 1")
    print("  table1:", round(st.mean(rows[k]["test"] for k in others), 2), " two starts:", round(st.mean(two[k] for k in others), 2))
if len(two) == 50:
    print("two-start cell:", round(st.mean(two.values()), 2), "+-", round(st.stdev(two.values()), 2), "median", round(st.median(two.values()), 2))
