#!/bin/bash
# CPU 1 (issue 10): finish reduced MNIST energy-attention (started by queue32a), then test whether
# the MNIST gap (every model ~27-32 % against the paper's 13-15 % for GAT and the energies) is the
# reduced protocol's 150 graphs: the paper protocol's 1000 graphs, parameter seed 0 over 10 folds,
# GAT first (stacked, cheap), then energy-edge; then the paper counting energy-attention (issue 11).
cd /work/main
export HOGWILD_DATA=/work/shared/data
while pgrep -f "cell mnist:energy-attention" > /dev/null; do sleep 60; done
hogwild reproduce table1 --protocol reduced --cell mnist:energy-attention --out results --runs-dir runs/table1 --workers 1
hogwild reproduce table1 --protocol paper --cell mnist:gat --seeds 1 --out results --runs-dir runs/table1 --workers 1
hogwild reproduce table1 --protocol paper --cell mnist:energy-edge --seeds 1 --out results --runs-dir runs/table1 --workers 1
hogwild reproduce table1 --protocol paper --cell counting:energy-attention --out results --runs-dir runs/table1 --workers 1
