#!/bin/bash
# pause.sh STOP|CONT: pause or resume every background queue (runs/queue*.sh and their children)
for p in $(pgrep -f "bash runs/queue"); do kill -$1 -- -$(ps -o pgid= $p | tr -d ' '); done
