#!/bin/bash
# Study (issue 10): the spike guard on the paper protocol's chains energy-edge, parameter seed 0
# (all ten folds on the 30 % plateau without it), folds 0 and 1. The paper protocol itself stays unguarded.
cd /work/main/runs/guard34
export HOGWILD_DATA=/work/shared/data
for f in 0 1; do
  [ -f paper-chains-f$f/metrics.json ] || hogwild train --task chains --model energy-edge --data-seed $f --seed 0 \
    --set energy_solver=newton --set spike_guard=1.2 --out paper-chains-f$f > paper-chains-f$f.log 2>&1
done
