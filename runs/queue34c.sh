#!/bin/bash
# CPU 0 (issue 10): reduced chains energy-attention under the spike guard, then let the paused paper
# chains queue (queue33c's process) continue.
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table1 --protocol reduced --cell chains:energy-attention --out results --runs-dir runs/table1 --workers 1
for p in $(pgrep -f "cell chains:energy-edge"); do kill -CONT $p; done
