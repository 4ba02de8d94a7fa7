#!/bin/bash
# CPU 0 (issue 12): Table 2's counting energy rows on the kept instances. Edge-wise: the paper
# protocol's best-validation run (fold 4 / seed 4, kept from its run directory; K1 890,
# condition 5.8e3 on 2 test graphs, bench/stiffness.py), never run under Table 2 before;
# attention: 0/5 reached 1e-6 within 400,000 steps (the 2-graph probe needed 333,000), so the
# 3,000,000-step budget of the other energy rows.
cd /work/main
export HOGWILD_DATA=/work/shared/data
for inst in counting/energy-edge counting/energy-attention; do
  hogwild reproduce table2 results/instances/$inst --x64 --max-time 3000000 --out results/table2/energies-plain-3m
done
