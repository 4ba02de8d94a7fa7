#!/bin/bash
# CPU 0 (issue 12): Table 2's MNIST rows redone from the reduced protocol's cells at the paper's
# 11,846 graphs (the table's MNIST rows came from the superseded 150-graph runs): each cell's
# best-validation instance kept in results/instances/mnist, then Table 2's protocol (10 test
# graphs, 5 runs, S = 4, D = 3, float64, 200,000 steps) into results/table2/mnist-11846.
# Usage: bash runs/queue43x.sh MODEL...
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in "$@"; do
  hogwild reproduce instances --protocol reduced --cell mnist:$model --out results --runs-dir runs/table1
done
for model in "$@"; do
  hogwild reproduce table2 results/instances/mnist/$model --x64 --max-time 200000 --out results/table2/mnist-11846
done
