#!/bin/bash
# CPU 1 (issue 10): the reduced protocol's MNIST terrain cells still missing, the cheap ones first
# (IGNN, GSD-GNN, GAT, GCN: ~0.1 h per run at this size against ~2 h for an energy run), then the
# node-wise and attention energy cells; then the paper MNIST energy-edge cell and Table 2's rows.
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in ignn gsd gat gcn energy-attention energy-node; do
  hogwild reproduce table1 --protocol reduced --cell mnist:$model --out results --runs-dir runs/table1 --workers 1
done
bash runs/queue35.sh
