#!/bin/bash
# CPU 0 (issue 12): Table 2's pending energy rows before the paper protocol's coordinates cell
# (18 h per run: optional under issue 11, while Table 2's energies are required). First the
# reduced MNIST energy-edge cell's best-validation instance (the kept one is from the
# superseded 150-graph cell; retrained, 300 epochs), then runs/queue31t.sh (sums node-wise and
# attention, MNIST and coordinates edge-wise: plain steps at 1/K1, float64, 3,000,000 steps),
# then runs/queue36c.sh (paper coordinates energy-edge, resumes its fold 0 / seed 0 run).
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce instances --protocol reduced --cell mnist:energy-edge --replace --out results --runs-dir runs/table1
bash runs/queue31t.sh
bash runs/queue36c.sh
