#!/bin/bash
# Paper protocol (issue 11): counting energy-attention, then energy-node; then the Table 2
# row of the counting energy-edge instance (issue 12).
cd /work/main
export HOGWILD_DATA=/work/shared/data
for m in energy-attention energy-node; do
  hogwild reproduce table1 --protocol paper --cell counting:$m --out results --runs-dir runs/table1 --workers 1
done
hogwild reproduce table2 results/instances/counting/energy-edge --x64 --max-time 1000000 --out results/table2/energies-plain-1m
