#!/bin/bash
# Session 49 (issue 12), CPU 1: Table 2's coordinates energy-node and energy-attention rows,
# early, to learn how many steps they need (energy-edge needed ~9 M): keep each cell's
# best-on-validation reduced run as an instance (retrained: its run directory is gone),
# then plain hogwild steps at 1/K1 with a 12,000,000-step budget, into the output
# runs/queue46c.sh (queue47c's chain) shares seed by seed.
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in energy-node energy-attention; do
  hogwild reproduce instances --protocol reduced --cell coordinates:$model --out results --runs-dir runs/table1
done
for model in energy-node energy-attention; do
  hogwild reproduce table2 results/instances/coordinates/$model --x64 --max-time 12000000 --out results/table2/energies-plain-12m
done
