#!/bin/bash
# Study (issue 10): multi-start on the paper protocol's chains energy-edge cell config for the two
# parameter seeds on the ~30 % plateau (0, 4), fold 0 (chains folds are interchangeable): three
# initialisations trained 400 epochs each, the best on validation loss continued to 5000.
# Usage: run.sh SEED
cd /work/main/runs/starts35
export HOGWILD_DATA=/work/shared/data
s=$1
[ -f f0-s$s/metrics.json ] || hogwild train --task chains --model energy-edge --data-seed 0 --seed $s \
  --set energy_solver=newton --set starts=3 --set start_epochs=400 --out f0-s$s > f0-s$s.log 2>&1
