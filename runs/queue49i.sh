#!/bin/bash
# Session 49 (issue 12), CPU 1: the Table 2 instances still missing (each cell's
# best-on-validation reduced run; coordinates ones retrained, their run directories are
# gone), then the rows of runs/queue49m.sh, shared with it seed by seed.
cd /work/main
export HOGWILD_DATA=/work/shared/data
for cell in mnist:energy-node coordinates:energy-node coordinates:energy-attention; do
  hogwild reproduce instances --protocol reduced --cell $cell --out results --runs-dir runs/table1
done
touch runs/logs/instances49.done
I=results/instances
T2() { hogwild reproduce table2 "$@" --x64 --step-size minimiser --max-time 3000000 --out results/table2/energies-minimiser; }
T2 $I/coordinates/energy-edge $I/sums/energy-attention $I/mnist/energy-attention
T2 $I/mnist/energy-node $I/coordinates/energy-node $I/coordinates/energy-attention
T2 $I/mnist/energy-edge $I/counting/energy-node $I/chains/energy-node $I/chains/energy-attention $I/counting/energy-edge
bash runs/queue46p.sh
