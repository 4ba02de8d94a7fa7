#!/bin/bash
# CPU 1 (issue 12): after the guard's counting study, Table 2's pending energy rows (runs/queue31t.sh).
cd /work/main
while pgrep -f "guard34/counting.sh" > /dev/null; do sleep 30; done
bash runs/queue31t.sh
