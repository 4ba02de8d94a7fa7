#!/bin/bash
# Session 49 (issue 12), CPU 0 beside runs/queue47c.sh: a second process on Table 2's
# coordinates energy-edge row at 12,000,000 steps. Since session 48 processes share an
# output seed by seed, so the row's remaining seeds (1-4, ~9 M steps each) run two at a time.
# Then Table 3's PROTEINS energy cells (issue 13), as queue47c's chain ends.
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table2 results/instances/coordinates/energy-edge --x64 --max-time 12000000 --out results/table2/energies-plain-12m
bash runs/queue46p.sh
