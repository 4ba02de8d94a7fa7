#!/bin/bash
cd /work/main
export HOGWILD_DATA=/work/shared/data
for m in energy-node energy-attention; do
  hogwild reproduce table1 --protocol reduced --cell chains:$m --out results --runs-dir runs/table1 --workers 1
done
