#!/bin/bash
# Table 2 energy rows (issue 12): plain steps at 1/K1, float64, 3,000,000-step budget (sums energy-node: residual 2.4e-2 after 1,000,000 steps at 1/K1, condition 7.6e4),
# instances with no row yet (sums attention: queue45s.sh).
cd /work/main
export HOGWILD_DATA=/work/shared/data
for inst in sums/energy-node mnist/energy-edge coordinates/energy-edge; do
  hogwild reproduce table2 results/instances/$inst --x64 --max-time 3000000 --out results/table2/energies-plain-3m
done
