#!/bin/bash
# CPU 1 (issue 12), after runs/queue44t.sh: Table 2's sums energy-attention row with an
# 8,500,000-step budget. At 3,000,000 (results/table2/energies-plain-3m, session 45) seed 0
# ended at ||grad E|| 1.2e-2, decaying by e^-1 per ~490,000 steps: ~7,600,000 are needed.
# Each run checkpoints every 5 minutes (results/table2/energies-plain-8m/table2.checkpoints).
cd /work/main
while pgrep -f "bash runs/queue44t.sh" > /dev/null; do sleep 60; done
hogwild reproduce table2 results/instances/sums/energy-attention --x64 --max-time 8500000 --out results/table2/energies-plain-8m
