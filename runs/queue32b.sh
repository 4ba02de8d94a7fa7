#!/bin/bash
# CPU 0 (issue 10): reduced MNIST energy-node; then the paper protocol's counting energy-node (issue 11).
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table1 --protocol reduced --cell mnist:energy-node --out results --runs-dir runs/table1 --workers 1
hogwild reproduce table1 --protocol paper --cell counting:energy-node --out results --runs-dir runs/table1 --workers 1
