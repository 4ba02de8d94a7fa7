#!/bin/bash
# Issue 13: MUTAG under the paper's protocol, edge-wise energy GNN, 10 folds x 2 seeds (resumes
# from the rows in results/table3.jsonl; a run cut by a session's end restarts).
cd /work/main
export HOGWILD_DATA=/work/shared/data
hogwild reproduce table3 --protocol paper --seeds 2 --cell mutag:energy-edge --out results --runs-dir runs/table3
