# Session 46 (issue 12): Table 2's MNIST energy-attention and energy-node rows, once their
# reduced Table 1 cells are complete (6 rows each; two queues share the node cell, so
# wait for both): keep each cell's best-on-validation instance, then plain hogwild steps
# at 1/K1 with the budget MNIST energy-edge needed (414,620-415,600 of 3,000,000).
cd /work/main
export HOGWILD_DATA=/work/shared/data
complete() {
  python - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open("results/table1.jsonl") if l.strip()]
n = sum(r["protocol"] == "reduced" and r["task"] == "mnist" and r["model"] == sys.argv[1] for r in rows)
sys.exit(0 if n >= 6 else 1)
PY
}
for model in energy-attention energy-node; do
  until complete $model; do sleep 300; done
  hogwild reproduce instances --protocol reduced --cell mnist:$model --out results --runs-dir runs/table1
  hogwild reproduce table2 results/instances/mnist/$model --x64 --max-time 3000000 --out results/table2/energies-plain-3m
done
