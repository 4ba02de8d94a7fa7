#!/bin/bash
# Study (issue 10): the energy GNN (edge-wise) on MNIST terrain at the paper's size (11,846 graphs),
# fold 0 / seed 0, in mini-batches of 500 graphs (15 Adam steps per epoch instead of one; the paper
# does not state its batch size), otherwise the paper protocol: how close does it get, how fast?
cd /work/main/runs/mnist35
export HOGWILD_DATA=/work/shared/data
[ -f energy-mb500/metrics.json ] || hogwild train --task mnist --model energy-edge --data-seed 0 --seed 0 \
  --set num_graphs=11846 --set batch_size=500 --out energy-mb500 > energy-mb500.log 2>&1
