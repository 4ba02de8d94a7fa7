#!/bin/bash
# CPU 1 (issue 10): wait for the running reduced coordinates energy-attention cell, finish it,
# then reduced MNIST energy-attention; then the paper protocol's counting energy-attention (issue 11).
cd /work/main
export HOGWILD_DATA=/work/shared/data
while pgrep -f "cell coordinates:energy-attention" > /dev/null; do sleep 60; done
hogwild reproduce table1 --protocol reduced --cell coordinates:energy-attention --out results --runs-dir runs/table1 --workers 1
hogwild reproduce table1 --protocol reduced --cell mnist:energy-attention --out results --runs-dir runs/table1 --workers 1
hogwild reproduce table1 --protocol paper --cell counting:energy-attention --out results --runs-dir runs/table1 --workers 1
