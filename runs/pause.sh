#!/bin/bash
# pause.sh STOP|CONT: pause or resume every background queue (runs/queue*.sh and their children),
# and any `hogwild reproduce` process left running after its queue's shell ended
for p in $(pgrep -f "bash runs/queue"); do kill -$1 -- -$(ps -o pgid= $p | tr -d ' '); done
for p in $(pgrep -f "bin/hogwild reproduce"); do kill -$1 $p; done
