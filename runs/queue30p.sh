#!/bin/bash
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table1 --protocol paper --cell counting:energy-edge --out results --runs-dir runs/table1 --workers 1
