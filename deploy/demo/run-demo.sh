#!/usr/bin/env bash
# Starts a local Capsule control plane (broker, aggregator, audit writer) as separate processes,
# three demo services (a Swift service embedding CapsuleAgentKit, a shell script governed by the
# capsule-agent sidecar, and a Python service embedding the Python SDK), the web console
# (`capsulectl console`, whose URL it prints) and a live status view.
# Ctrl-C stops every process it started.
#
# Environment: CAPSULE_HOME (default ./.demo-home), DEMO_SECONDS (stop after N seconds; default: run
# until Ctrl-C), SWIFT_BIN (default .build/debug), PYTHON (default .venv/bin/python, made by
# `make venv` if missing), CONSOLE_LISTEN (default 127.0.0.1:7480).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${SWIFT_BIN:-.build/debug}"
PYTHON="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PYTHON" ]; then make venv; fi
export CAPSULE_HOME="${CAPSULE_HOME:-$PWD/.demo-home}"
export DEMO_STATE="$CAPSULE_HOME/report-worker"
LOGS="$CAPSULE_HOME/logs"
mkdir -p "$LOGS" "$DEMO_STATE"
THRESHOLDS=(--heartbeat-seconds 2 --stale-seconds 8 --offline-seconds 14)
CONSOLE_LISTEN="${CONSOLE_LISTEN:-127.0.0.1:7480}"
PIDS=()

cleanup() {
    trap - INT TERM EXIT
    echo
    echo "Stopping demo processes..."
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 30); do
        alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    echo "Stopped. Logs are in $LOGS; the home (keys, databases) is $CAPSULE_HOME."
}
trap cleanup INT TERM EXIT

start() {
    local name=$1; shift
    "$@" >"$LOGS/$name.log" 2>&1 &
    PIDS+=($!)
}

for port in 7401 7402 7403 "${CONSOLE_LISTEN##*:}"; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        echo "Port $port is already in use; stop whatever listens there (another demo?) and try again." >&2
        exit 1
    fi
done

echo "Capsule home: $CAPSULE_HOME"
start broker "$BIN/capsule-broker" "${THRESHOLDS[@]}"
for _ in $(seq 1 50); do [ -f "$CAPSULE_HOME/broker.json" ] && break; sleep 0.1; done
start aggregator "$BIN/capsule-aggregator" "${THRESHOLDS[@]}"
start audit "$BIN/capsule-audit"
CTL="$BIN/capsulectl"
# A new agent enrols once with a one-time registration token; later starts reuse its key.
token_args() {
    if [ -f "$CAPSULE_HOME/keys/agent-$1.key" ]; then return; fi
    for _ in $(seq 1 50); do
        if token=$("$CTL" token create --name "demo-$1" --agent-code "$1" --expires 10m 2>/dev/null); then
            echo "--token $token"; return
        fi
        sleep 0.2
    done
    echo "could not mint a registration token for $1 (see $LOGS/broker.log)" >&2
}
start billing-bridge "$BIN/capsule-demo-service" --heartbeat-seconds 2 $(token_args demo-swift)
start report-worker /bin/sh deploy/demo/report-worker.sh run
start report-worker-agent "$BIN/capsule-agent" --manifest deploy/demo/report-worker.yaml --heartbeat-seconds 2 \
    $(token_args sidecar-report-worker)
# The Python service reads its one-time token from CAPSULE_TOKEN (empty once its key exists).
python_token=$(token_args demo-python); python_token=${python_token#--token }
start billing-worker env CAPSULE_TOKEN="$python_token" AGENT_CODE=demo-python HEARTBEAT_SECONDS=2 \
    "$PYTHON" sdk/python/examples/billing_worker.py

# The web console, with the home's owner key; it prints a URL carrying its session secret.
start console "$CTL" console --listen "$CONSOLE_LISTEN"
console_url=""
for _ in $(seq 1 100); do
    console_url=$(grep -Eo 'http://[^ ]+/\?token=[0-9a-f]+' "$LOGS/console.log" 2>/dev/null | head -1 || true)
    [ -n "$console_url" ] && break
    sleep 0.1
done
if [ -n "$console_url" ]; then
    echo "Web console: $console_url"
else
    console_url="(not started; see $LOGS/console.log)"
fi

started=$(date +%s)
while true; do
    if [ -t 1 ]; then printf '\033[H\033[2J'; fi
    echo "Capsule demo — $(date -u +%FT%TZ)   (Ctrl-C stops everything)"
    echo "Web console: $console_url"
    echo
    "$CTL" status 2>&1 || true
    echo
    echo "Recent audit events:"
    "$CTL" audit --limit 8 2>&1 || true
    echo
    echo "Try, in another terminal (CAPSULE_HOME=$CAPSULE_HOME):"
    echo "  $CTL service show billing-bridge"
    echo "  $CTL action run billing-bridge set-health --payload '{\"status\":\"DEGRADED\"}'"
    echo "  $CTL action run report-worker pause        # then: resume"
    echo "  $CTL action run report-worker rotate-logs --confirm"
    echo "  $CTL action run billing-worker retry-failed  # the Python service; purge-queue needs --confirm"
    if [ -n "${DEMO_SECONDS:-}" ] && [ $(( $(date +%s) - started )) -ge "$DEMO_SECONDS" ]; then break; fi
    sleep 2
done
