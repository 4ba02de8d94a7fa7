#!/bin/bash
# Session 47 (issue 12), CPU 0: Table 2's coordinates energy-edge row with a 12,000,000-step
# budget. At 3,000,000 (session 46) seeds 0-2 ended at ||grad E|| 0.040, its e-fold length
# growing 380k -> 530k steps: ~8-11 M steps are needed. Seed 3 continues from its
# checkpoint at 1,760,000 (re-saved under the budget-free fingerprint, /tmp/p47/convert.py);
# seeds 0-2 start afresh (their checkpoints were removed when they ended, before session 47
# kept the state of runs that end on their budget). Then the coordinates energy-node /
# attention rows (runs/queue46c.sh) and Table 3's PROTEINS energy cells.
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table2 results/instances/coordinates/energy-edge --x64 --max-time 12000000 --out results/table2/energies-plain-12m
bash runs/queue46c.sh
bash runs/queue46p.sh
