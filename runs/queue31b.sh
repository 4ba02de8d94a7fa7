#!/bin/bash
# CPU 1: reduced coordinates then MNIST energy-node / energy-attention
cd /work/main
export HOGWILD_DATA=/work/shared/data
for t in coordinates mnist; do
  for m in energy-node energy-attention; do
    hogwild reproduce table1 --protocol reduced --cell $t:$m --out results --runs-dir runs/table1 --workers 1
  done
done
