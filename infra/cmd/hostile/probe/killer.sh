#!/bin/bash
# killer.sh SECONDS DURATION BOOTSTRAP: kill -9 every process running BOOTSTRAP (a runtime's
# <run dir>/build/DeliverFunction/bootstrap, absolute) every SECONDS for DURATION; by pid only.
end=$(( $(date +%s) + $2 ))
while [ $(date +%s) -lt $end ]; do
  sleep $1
  for p in /proc/[0-9]*; do
    c=$(tr '\0' ' ' < $p/cmdline 2>/dev/null) || continue
    case "$c" in "$3"*) kill -9 ${p#/proc/} 2>/dev/null && echo "$(date -u +%T) killed ${p#/proc/}";; esac
  done
done
