#!/bin/bash
# CPU 1 (issue 10): the reduced chains energy cells under the spike guard (protocol since session 34):
# energy-edge (its six runs were trained as runs/guard34 with the same config), energy-node; then
# the paper counting energy-attention (issue 11).
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in energy-edge energy-node; do
  hogwild reproduce table1 --protocol reduced --cell chains:$model --out results --runs-dir runs/table1 --workers 1
done
hogwild reproduce table1 --protocol paper --cell counting:energy-attention --out results --runs-dir runs/table1 --workers 1
