#!/bin/bash
# CPU 0: paper counting energy-edge, then reduced chains energy-node / energy-attention
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table1 --protocol paper --cell counting:energy-edge --out results --runs-dir runs/table1 --workers 1
for m in energy-node energy-attention; do
  hogwild reproduce table1 --protocol reduced --cell chains:$m --out results --runs-dir runs/table1 --workers 1
done
