#!/bin/bash
# CPU 1 (issue 13): Table 3's PROTEINS cells, `reduced` protocol (10 folds x 2 seeds): GSD-GNN's
# last run, then each energy GNN over the ten folds of parameter seed 0 first (a complete
# cross-validation per model sooner), then their seed-1 folds.
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table3 --protocol reduced --cell proteins:gsd --out results --runs-dir runs/table3 --workers 1
for seeds in 1 2; do
  for model in energy-edge energy-node energy-attention; do
    hogwild reproduce table3 --protocol reduced --seeds $seeds --cell proteins:$model --out results --runs-dir runs/table3 --workers 1
  done
done
