#!/bin/bash
# Spike guard (issue 10), reduced chains energy-edge at lr 0.003, Newton at 1e-6, factor 1.2:
# seed 1 fold 1 (collapsed to 24.0 % without it) and fold 2 (spiked at 961 after 0.0 %), then seed 0 fold 0.
cd /work/main/runs/guard34
export HOGWILD_DATA=/work/shared/data PYTHONPATH=/work/dev34/src
for fs in "1 1" "2 1" "0 0"; do set -- $fs
  python ../bisect33/run.py f$1s$2 5000 fold=$1 seed=$2 spike_guard=1.2 > f$1s$2.log 2>&1
done
