#!/bin/bash
# Study (issue 10): chains energy-edge, paper protocol, fold 0, 2,000 epochs, nonnegative PICNN
# weights as max(w, 0) instead of exp(raw): plateau seeds 0, 4 and solving seed 1.
cd /work/main/runs/chains36
export HOGWILD_DATA=/work/shared/data
for s in 0 4 1; do
  [ -f projected-s$s/metrics.json ] || python projected.py projected-s$s 2000 $s > projected-s$s.log 2>&1
done
