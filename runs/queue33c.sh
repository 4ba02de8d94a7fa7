#!/bin/bash
# Issue 10/11: the paper protocol's chains cells with energy models (lr 0.002 with decay, 5000
# epochs, patience 300, Newton at 1e-6 since session 33), seed by seed; edge-wise first.
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in energy-edge energy-attention energy-node; do
  hogwild reproduce table1 --protocol paper --cell chains:$model --out results --runs-dir runs/table1 --workers 1
done
