#!/bin/bash
# Multi-start on chains (session 32): the reduced protocol's edge-wise energy GNN runs
# (folds 0-2, parameter seeds 0-1, lr 0.003, 5000 epochs, patience 300, Newton), each
# with two starts (its own seed and one more) tried for 400 epochs, the better on
# validation continued. Table 1's reduced cell without starts: 17.5 +- 12.6.
cd /work/main
for s in 0 1; do for f in 0 1 2; do
  out=runs/starts32/chains-edge/fold$f-seed$s
  if [ -f $out/metrics.json ]; then continue; fi
  if [ -f $out/config.json ]; then hogwild train --out $out --resume --quiet
  else hogwild train --task chains --model energy-edge --data-seed $f --seed $s --lr 0.003 \
    --set energy_solver=newton --set starts=2 --set start_epochs=400 --out $out --quiet; fi
done; done
