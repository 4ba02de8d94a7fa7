#!/bin/bash
# CPU 1 (issue 10): the paper protocol's MNIST terrain energy-edge cell at the paper's size (11,846
# graphs since session 35, where GAT fell from 27 % to 17 %), parameter seed 0 over the ten folds
# first; then Table 2's pending energy rows (issue 12, runs/queue31t.sh).
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table1 --protocol paper --cell mnist:energy-edge --seeds 1 --out results --runs-dir runs/table1 --workers 1
# Table 2 rows (runs/queue31t.sh) moved to runs/queue41e.sh in session 41
