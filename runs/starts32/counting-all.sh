#!/bin/bash
# Multi-start, the whole counting cell (issue 10): the paper protocol's counting energy-edge
# runs of parameter seeds 0, 2, 3, 4 (seed 1: run.sh) with two starts of 400 epochs, so that
# results/multistart.md can give the two-start cell itself (50 runs) beside Table 1's.
# Resumable: finished runs are skipped, interrupted ones resumed.
cd /work/main
for s in 0 2 3 4; do for f in 0 1 2 3 4 5 6 7 8 9; do
  out=runs/starts32/counting/fold$f-seed$s
  if [ -f $out/metrics.json ]; then continue; fi
  if [ -f $out/config.json ]; then hogwild train --out $out --resume --quiet
  else hogwild train --task counting --model energy-edge --data-seed $f --seed $s \
    --set energy_solver=newton --set starts=2 --set start_epochs=400 --out $out --quiet; fi
done; done
