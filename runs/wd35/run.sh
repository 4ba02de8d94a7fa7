#!/bin/bash
# Study (issue 10): the paper's "Adam optimizer with weight decay ... α = 0.001" read as PyTorch's
# Adam(weight_decay=0.001) (an L2 penalty inside Adam) instead of our AdamW 1e-4, on the paper
# protocol's chains energy-edge for the parameter seeds that sit on the 29-30 % plateau (0 and 4)
# in every fold; fold 0; otherwise the cell's config. Usage: run.sh SEED [extra --set ...]
cd /work/main/runs/wd35
export HOGWILD_DATA=/work/shared/data
s=$1; shift
name=coupled-f0-s$s
[ -f $name/metrics.json ] || hogwild train --task chains --model energy-edge --data-seed 0 --seed $s \
  --set energy_solver=newton --set weight_decay=0.001 --set coupled_weight_decay=true "$@" --out $name > $name.log 2>&1
