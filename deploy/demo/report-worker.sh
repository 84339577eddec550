#!/bin/sh
# A plain shell "service" for the Capsule demo, governed by capsule-agent (no SDK).
#   report-worker.sh run          the worker: writes a tick file every second
#   report-worker.sh health       exit 0 UP, 1 DEGRADED (paused), 2 DOWN (no tick for 5 s)
#   report-worker.sh pause|resume|rotate-logs
set -eu
STATE="${DEMO_STATE:-/tmp/capsule-demo-report-worker}"
mkdir -p "$STATE"
case "${1:-}" in
run)
    echo $$ > "$STATE/pid"
    while true; do
        if [ ! -f "$STATE/paused" ]; then
            date +%s > "$STATE/tick"
            echo "$(date -u +%FT%TZ) processed a report" >> "$STATE/worker.log"
        fi
        sleep 1
    done
    ;;
health)
    now=$(date +%s)
    last=$(cat "$STATE/tick" 2>/dev/null || echo 0)
    if [ -f "$STATE/paused" ]; then echo "paused by an operator"; exit 1; fi
    if [ $((now - last)) -gt 5 ]; then echo "no progress for $((now - last)) s"; exit 2; fi
    echo "processing, last tick $((now - last)) s ago"
    exit 0
    ;;
pause)
    touch "$STATE/paused"; echo '{"message":"worker paused","paused":true}' ;;
resume)
    rm -f "$STATE/paused"; echo '{"message":"worker resumed","paused":false}' ;;
rotate-logs)
    lines=$(wc -l < "$STATE/worker.log" 2>/dev/null || echo 0)
    : > "$STATE/worker.log"
    echo "{\"message\":\"rotated ${lines} lines\",\"rotatedLines\":${lines}}" ;;
*)
    echo "usage: $0 run|health|pause|resume|rotate-logs" >&2; exit 64 ;;
esac
