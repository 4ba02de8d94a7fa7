#!/bin/bash
# Spike guard on counting's failing parameter seed 1 (paper protocol: 50 graphs, lr 0.002 with decay,
# Newton), all ten folds; compare with that seed's rows in results/table1.jsonl (9.9-42.4 %).
cd /work/main/runs/guard34
export HOGWILD_DATA=/work/shared/data
for f in 0 1 2 3 4 5 6 7 8 9; do
  [ -f counting-f$f/metrics.json ] || hogwild train --task counting --model energy-edge --data-seed $f --seed 1 \
    --set energy_solver=newton --set spike_guard=1.2 --out counting-f$f > counting-f$f.log 2>&1
done
