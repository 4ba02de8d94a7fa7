#!/bin/bash
# CPU 0 (issue 11): the paper protocol's chains energy-node cell (Newton at 1e-6), now stacked
# ten runs to a program (energy runs under Newton, session 39: 1.27x on ten chains folds).
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table1 --protocol paper --cell chains:energy-node --out results --runs-dir runs/table1 --workers 1
