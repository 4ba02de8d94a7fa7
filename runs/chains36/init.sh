#!/bin/bash
# Study (issue 10): chains energy-edge, paper protocol, fold 0, the given seeds, EPOCHS epochs,
# with the last-layer y scale of the WHICH PICNNs at SCALE (library: 1e-3).
# Usage: init.sh SCALE WHICH EPOCHS SEED...
cd /work/main/runs/chains36
export HOGWILD_DATA=/work/shared/data
scale=$1 which=$2 epochs=$3; shift 3
for s in "$@"; do
  [ -f $which-y$scale-s$s/metrics.json ] || python init.py $which-y$scale-s$s $epochs $s $scale $which > $which-y$scale-s$s.log 2>&1
done
