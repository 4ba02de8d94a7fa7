#!/bin/bash
# CPU 1 (issue 13): Table 3's PROTEINS cells that have no row yet, `reduced` protocol (10 folds x 2
# seeds, the protocol of its GCN / IGNN / GAT rows), GSD-GNN first, then the three energy GNNs
# (L-BFGS: Newton with size buckets measured 0.58x on a trained PROTEINS energy, session 38).
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in gsd energy-edge energy-node energy-attention; do
  hogwild reproduce table3 --protocol reduced --cell proteins:$model --out results --runs-dir runs/table3 --workers 1
done
