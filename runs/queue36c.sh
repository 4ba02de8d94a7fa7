#!/bin/bash
# CPU 0 (issue 10): the paper protocol's coordinates energy-edge cell at the paper's 1,500 graphs,
# parameter seed 0 over the ten folds first (fold 0 / seed 0 reached validation 33.2 % by epoch
# ~1,913 in session 39; its run directory was lost with that checkout, so it starts again).
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table1 --protocol paper --cell coordinates:energy-edge --seeds 1 --out results --runs-dir runs/table1 --workers 1
