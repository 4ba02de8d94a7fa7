#!/bin/bash
# Chains fold 0, parameter seed 1, reduced protocol: Table 1's row (L-BFGS, older code) reached
# 0.0 %; the same run with Newton solves collapsed to 30.5 % (runs/starts32/chains-edge). Is it
# the solver? The same run with L-BFGS under the current code. Waits for chains.sh (same CPU).
cd /work/main
while pgrep -f "runs/starts32/chains.sh" > /dev/null; do sleep 60; done
out=runs/starts32/chains-lbfgs/fold0-seed1
if [ -f $out/metrics.json ]; then exit 0; fi
if [ -f $out/config.json ]; then hogwild train --out $out --resume --quiet
else hogwild train --task chains --model energy-edge --data-seed 0 --seed 1 --lr 0.003 \
  --set energy_solver=lbfgs --out $out --quiet; fi
