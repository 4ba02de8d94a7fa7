#!/bin/bash
# CPU 1 (issue 12): Table 2's chains energy-attention row with a 4,000,000-step budget. At
# 3,000,000 (runs/queue41t.sh, results/table2/energies-plain-3m) seeds 0-2 ended at
# ||grad E|| 2.9e-6, decaying by exp(-0.49) per 100,000 steps: ~3,250,000 are needed.
# Each run checkpoints every 5 minutes (results/table2/energies-plain-4m/table2.checkpoints).
cd /work/main
hogwild reproduce table2 results/instances/chains/energy-attention --x64 --max-time 4000000 --out results/table2/energies-plain-4m
