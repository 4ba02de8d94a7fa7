#!/bin/bash
# CPU 1 (issue 10): the reduced protocol's MNIST terrain at the paper's 11,846 graphs (batches of
# 500, 300 epochs; since session 36), energy cells first; then the paper protocol's MNIST
# energy-edge cell (fold 0 / seed 0 stopped at epoch 267, resumes) and Table 2's energy rows.
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in energy-edge energy-attention energy-node ignn gsd gat gcn; do
  hogwild reproduce table1 --protocol reduced --cell mnist:$model --out results --runs-dir runs/table1 --workers 1
done
bash runs/queue35.sh
