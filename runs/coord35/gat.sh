#!/bin/bash
# Issue 10, coordinates gap (GAT 59.9 ± 4.9 reduced, 100 graphs; paper 39.3 ± 1.0): is it the
# reduced protocol's dataset size? GAT, fold 0 / seed 0, at the paper protocol's size (task default) and batch size (100).
cd /work/main/runs/coord35
export HOGWILD_DATA=/work/shared/data
[ -f gat-paper/metrics.json ] || hogwild train --task coordinates --model gat --data-seed 0 --seed 0 --set batch_size=100 --out gat-paper > gat-paper.log 2>&1
