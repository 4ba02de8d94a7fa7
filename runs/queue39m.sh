#!/bin/bash
# CPU 0 (issue 13): MUTAG under the paper's protocol for the node-wise and attention energy GNNs
# (the edge-wise one: 80.3 ± 10.7 over 20 runs against 78.8 reduced; node-wise reduced 83.0,
# the best reduced row), 10 folds x 2 seeds; then the coordinates paper run resumes.
cd /work/main
export HOGWILD_DATA=/work/shared/data
for model in energy-node energy-attention; do
  hogwild reproduce table3 --protocol paper --seeds 2 --cell mutag:$model --out results --runs-dir runs/table3 --workers 1
done
bash runs/queue36c.sh
