#!/bin/bash
# Session 49 (issue 12), CPU 0: Table 2's energy rows with plain steps at 1/K1* (the
# curvature at the synchronous answer, `--step-size minimiser`) instead of 1/K1 (a bound over
# H* and H = 0). On the instances still missing rows K1/K1* is 7.4 (coordinates energy-edge),
# 10.7 (sums energy-attention) and 89 (MNIST energy-attention) (/tmp/p49/cert.py), and
# coordinates energy-edge went from ||grad E|| 25 at 193,000 steps (1/K1) to 1.4 at 170,000
# (1/K1*, one-run probe). Shared seed by seed with runs/queue49i.sh, which first makes the
# three instances still missing. Then the same rule on the rows done at 1/K1 whose K1/K1*
# exceeds 1.05 (a consistent table), then Table 3's PROTEINS energy cells (issue 13).
cd /work/main
export HOGWILD_DATA=/work/shared/data
I=results/instances
T2() { hogwild reproduce table2 "$@" --x64 --step-size minimiser --max-time 3000000 --out results/table2/energies-minimiser; }
T2 $I/coordinates/energy-edge $I/sums/energy-attention $I/mnist/energy-attention
until [ -f runs/logs/instances49.done ]; do sleep 120; done
T2 $I/mnist/energy-node $I/coordinates/energy-node $I/coordinates/energy-attention
T2 $I/mnist/energy-edge $I/counting/energy-node $I/chains/energy-node $I/chains/energy-attention $I/counting/energy-edge
bash runs/queue46p.sh
