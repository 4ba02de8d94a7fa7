# Session 46: Table 2's coordinates energy-node and energy-attention rows (issue 12): keep
# each cell's best-on-validation reduced run as an instance (retrained: its run directory
# is gone), then simulate hogwild inference on it with plain steps at 1/K1.
# Session 49: at 12,000,000 steps into energies-plain-12m, shared seed by seed with
# runs/queue49n.sh (coordinates energy-edge needed ~9 M steps).
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in energy-node energy-attention; do
  hogwild reproduce instances --protocol reduced --cell coordinates:$model --out results --runs-dir runs/table1
  hogwild reproduce table2 results/instances/coordinates/$model --x64 --max-time 12000000 --out results/table2/energies-plain-12m
done
