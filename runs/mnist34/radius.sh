#!/bin/bash
# MNIST terrain, GAT, fold 4 / seed 0 at the paper protocol's 1000 graphs: the task's radius-5 agent
# graph against the complete one (radius 15): does the graph limit the consensus? (issue 10)
cd /work/main/runs/mnist34
export HOGWILD_DATA=/work/shared/data
for r in 15 5; do
  [ -f gat-r$r/metrics.json ] || hogwild train --task mnist --model gat --data-seed 4 --seed 0 --set radius=$r --out gat-r$r > gat-r$r.log 2>&1
done
