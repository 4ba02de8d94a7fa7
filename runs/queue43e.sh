#!/bin/bash
# CPU 0 (issue 12): runs/queue41e.sh without its first step (the reduced MNIST energy-edge
# instance, retrained in session 42, which --replace would retrain again): Table 2's pending
# energy rows (runs/queue31t.sh, resumes per seed), then the paper coordinates energy-edge cell.
cd /work/main
bash runs/queue31t.sh
bash runs/queue36c.sh
