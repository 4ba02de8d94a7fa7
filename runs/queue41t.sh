#!/bin/bash
# CPU 1 (issue 12): Table 2's chains energy rows. The paper protocol's chains instances of the
# three energy GNNs (best validation per cell; node-wise copied, edge-wise and attention
# retrained: their run directories went with an earlier checkout), then hogwild inference of
# each, plain steps at 1/K1 in float64 with a 3,000,000-step budget (edge-wise: K1/mu ~ 1e4).
cd /work/main
for model in energy-node energy-edge energy-attention; do
  hogwild reproduce instances --protocol paper --cell chains:$model --out results --runs-dir runs/table1
done
for model in energy-node energy-edge energy-attention; do
  hogwild reproduce table2 results/instances/chains/$model --x64 --max-time 3000000 --out results/table2/energies-plain-3m
done
