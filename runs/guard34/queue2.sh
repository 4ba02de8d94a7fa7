#!/bin/bash
# The rest of the reduced chains cells with the spike guard (factor 1.2): energy-edge's other runs,
# then energy-attention's six (issue 10). Waits for queue.sh.
cd /work/main/runs/guard34
export HOGWILD_DATA=/work/shared/data PYTHONPATH=/work/main/src
while pgrep -f "guard34/queue.sh" > /dev/null; do sleep 30; done
for fs in "0 1" "1 0" "2 0"; do set -- $fs
  [ -f f$1s$2/metrics.json ] || python ../bisect33/run.py f$1s$2 5000 fold=$1 seed=$2 spike_guard=1.2 > f$1s$2.log 2>&1
done
for fs in "0 0" "0 1" "1 0" "1 1" "2 0" "2 1"; do set -- $fs
  [ -f att-f$1s$2/metrics.json ] || python ../bisect33/run.py att-f$1s$2 5000 fold=$1 seed=$2 model=energy-attention spike_guard=1.2 > att-f$1s$2.log 2>&1
done
