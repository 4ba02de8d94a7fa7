#!/bin/bash
# Chains fold 0, parameter seed 1, reduced protocol: Table 1's rows of this seed (older code)
# reached 0.0 %; today's code collapses with Newton (30.5 %) and with L-BFGS (28.0 %,
# runs/starts32/chains-lbfgs). First suspect: the classification prior-logit correction
# (standardise_targets, issue 10). The same run without it.
cd /work/main
out=runs/starts32/chains-noprior/fold0-seed1
if [ -f $out/metrics.json ]; then exit 0; fi
if [ -f $out/config.json ]; then hogwild train --out $out --resume --quiet
else hogwild train --task chains --model energy-edge --data-seed 0 --seed 1 --lr 0.003 \
  --set energy_solver=newton --set standardise_targets=false --out $out --quiet; fi
