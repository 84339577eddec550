#!/usr/bin/env bash
# Capsule across separate hosts and a NAT, on one machine: every process runs in its own network
# namespace with its own address (see capsule-netns.sh), agents sit on a private LAN behind a
# masquerading router and only dial out.
#
# What it proves, in order:
#   1. a broker, an aggregator and an audit writer on three hosts find each other with explicit
#      endpoints, the broker's public key (broker.pub) and --trust-service for the internal services;
#   2. two agents behind the NAT (an SDK service and a sidecar) enrol with one-time tokens minted on
#      the broker host, report, and read HEALTHY;
#   3. an action sent from capsulectl on the broker host reaches an agent behind the NAT and its
#      result comes back (SUCCEEDED), for both agents;
#   4. with the site's uplink cut for longer than the offline threshold, the services read OFFLINE;
#      a command sent during the cut is either delivered after the link returns (SUCCEEDED) or
#      EXPIRES by its TTL; once the link is back the services return to HEALTHY on their own;
#   5. no connection was ever opened towards the site: zero SYNs to the site's uplink address or
#      the private LAN on the uplink (tcpdump), every new TCP flow the site's conntrack saw went
#      from the LAN out to the broker, and the control-plane hosts have no route to the LAN;
#   6. past one machine: the stores move from SQLite to PostgreSQL on its own host
#      (`capsulectl store migrate`, checked by counts), a second broker host joins as the standby
#      of a pair, and when the active broker is killed (kill -9) the standby takes over: agents
#      behind the NAT, the aggregator and the audit writer move to it on their own, and an action
#      runs through it.
#
# Usage (as root, from anywhere):   sudo deploy/netns/netns-e2e.sh
# Environment: CAPSULE_BIN (default .build/debug) the directory holding the built executables;
#              KEEP_WORK=1 keeps the temporary directory (homes, logs, captures).
# The last line printed is "netns-e2e: PASSED" or "netns-e2e: FAILED: <reason>"; the exit status is
# 0 only for PASSED. Everything it started is stopped and the namespaces are removed in every case.
set -euo pipefail

# A parent may hand us a blocked signal mask (threads of Swift concurrency block most signals, and
# a child inherits the mask): then TERM would not stop our processes and traps would never run.
# Start over once with every signal unblocked and at its default disposition.
if [ "${NETNS_E2E_SIGNALS_RESET:-}" != 1 ]; then
    export NETNS_E2E_SIGNALS_RESET=1
    if env --default-signal true 2>/dev/null; then exec env --default-signal bash "$0" "$@"; fi
    exec perl -MPOSIX -e 'sigprocmask(SIG_SETMASK, POSIX::SigSet->new); $SIG{$_} = "DEFAULT" for grep { $_ ne "KILL" && $_ ne "STOP" } keys %SIG; exec @ARGV or die "exec: $!"' bash "$0" "$@"
fi

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
NETNS="$REPO/deploy/netns/capsule-netns.sh"
case "${CAPSULE_BIN:-}" in
"") BIN_SRC="$REPO/.build/debug" ;;
/*) BIN_SRC="$CAPSULE_BIN" ;;
*) BIN_SRC="$PWD/$CAPSULE_BIN" ;;
esac
cd "$REPO"
# The daemons read CAPSULE_<FLAG> variables as flags: start them from a clean slate.
for var in $(compgen -e | grep '^CAPSULE_' || true); do unset "$var"; done
BUDGET_SECONDS="${NETNS_E2E_BUDGET:-170}"   # the whole run, watchdog included, stays under 3 minutes
HB=1 STALE=3 OFFLINE=5 TTL=20
EXECUTABLES=(capsule-broker capsule-aggregator capsule-audit capsule-agent capsule-demo-service capsulectl)
LEASE=2

START=$EPOCHREALTIME
FAIL_REASON=""
LAST_ERROR=""
WORK=""
PG_DIR=""
NET_UP=0
WATCHDOG=""
declare -A PIDS=()
STARTED=()          # names, in start order
TIMELINE=()

say() { echo "netns-e2e: $*"; }
elapsed() { awk -v a="$START" -v b="${1:-$EPOCHREALTIME}" 'BEGIN { printf "%6.1f", b - a }'; }
clock() { date -u -d "@${1:-$EPOCHREALTIME}" +%H:%M:%S.%3N; }
since() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.1f", b - a }'; }
# Records a timeline entry and prints it at once.
mark() {
    local t=$EPOCHREALTIME line
    line="$(clock "$t")  +$(elapsed "$t")s  $*"
    TIMELINE+=("$line")
    say "$line"
    LAST_MARK=$t
}
fail() { FAIL_REASON="$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Cleanup: always runs (EXIT trap), prints logs on failure, removes everything, prints the verdict.

stop_process() {
    local name=$1 pid=${PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PIDS[$name]"
}

dump_logs() {
    [ -n "$WORK" ] && [ -d "$WORK/logs" ] || return 0
    local f
    for f in "$WORK"/logs/*.log; do
        [ -f "$f" ] || continue
        echo "----- $(basename "$f") (last 40 lines)"
        tail -n 40 "$f" || true
    done
    echo "-----"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM USR1 ERR
    set +eu
    if [ -n "$WATCHDOG" ]; then
        pkill -P "$WATCHDOG" 2>/dev/null
        kill "$WATCHDOG" 2>/dev/null
        wait "$WATCHDOG" 2>/dev/null
    fi
    if [ "$rc" != 0 ] && [ -z "$FAIL_REASON" ]; then
        FAIL_REASON="exited with status $rc${LAST_ERROR:+ ($LAST_ERROR)}"
    fi
    if [ -n "$FAIL_REASON" ]; then
        say "failure after $(elapsed)s: $FAIL_REASON"
        if [ "$NET_UP" = 1 ] && [ -n "${PIDS[broker]:-}" ]; then
            echo "----- capsulectl status (broker host)"
            ctl status 2>&1 | head -20
        fi
        dump_logs
        if [ "${#TIMELINE[@]}" -gt 0 ]; then
            echo "----- timeline so far"
            printf '  %s\n' "${TIMELINE[@]}"
        fi
    fi
    local i
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_process "${STARTED[$i]}"; done
    if [ -n "$PG_DIR" ]; then "$REPO/scripts/pg-cluster.sh" destroy "$PG_DIR" >/dev/null 2>&1 9>&- || rm -rf "$PG_DIR"; fi
    if [ "$NET_UP" = 1 ] || [ -n "$WORK" ]; then "$NETNS" down >/dev/null 2>&1 || say "warning: capsule-netns.sh down failed"; fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "${KEEP_WORK:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
    fi
    if [ -z "$FAIL_REASON" ] && [ "$rc" = 0 ]; then
        echo "netns-e2e: PASSED"
        exit 0
    fi
    echo "netns-e2e: FAILED: $FAIL_REASON"
    exit 1
}
trap cleanup EXIT
trap 'FAIL_REASON="${FAIL_REASON:-interrupted}"; exit 1' INT
trap 'FAIL_REASON="${FAIL_REASON:-terminated (SIGTERM)}"; exit 1' TERM
trap 'FAIL_REASON="${FAIL_REASON:-ran longer than ${BUDGET_SECONDS}s (watchdog)}"; exit 1' USR1
trap 'LAST_ERROR="line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------------------------------------
# Helpers

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces)"

# The watchdog bounds the whole run, waiting for the lock included.
( exec >/dev/null 2>&1; sleep "$BUDGET_SECONDS"; kill -USR1 $$ ) &
WATCHDOG=$!

# One run at a time on this machine (the namespace names are fixed). Until we hold the lock,
# cleanup touches nothing (NET_UP=0, no WORK).
exec 9>/run/capsule-netns-e2e.lock
flock -w $((BUDGET_SECONDS > 60 ? BUDGET_SECONDS - 45 : 15)) 9 || fail "another netns-e2e run held /run/capsule-netns-e2e.lock for too long"

# start NAME NAMESPACE CMD... : runs CMD inside the namespace, output to logs/NAME.log.
start() {
    local name=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$@" >>"$WORK/logs/$name.log" 2>&1 9>&- </dev/null &
    PIDS[$name]=$!
    STARTED+=("$name")
}

alive() { local pid=${PIDS[$1]:-}; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# wait_for DESCRIPTION SECONDS CMD... : polls CMD every 0.25 s, fails the run when it never holds.
wait_for() {
    local what=$1 seconds=$2
    shift 2
    local deadline
    deadline=$(awk -v n="$EPOCHREALTIME" -v s="$seconds" 'BEGIN { printf "%.3f", n + s }')
    while :; do
        if "$@"; then return 0; fi
        if awk -v n="$EPOCHREALTIME" -v d="$deadline" 'BEGIN { exit !(n > d) }'; then
            fail "timed out after ${seconds}s waiting for $what"
        fi
        sleep 0.25
    done
}

# capsulectl on the broker host, with the broker host's home (its local owner key); CTL_EXTRA names
# the pair once there is one.
CTL_EXTRA=()
ctl() { ip netns exec "$NS_BROKER" "$BIN/capsulectl" "$@" --home "$H_BROKER" --timeout 5 "${CTL_EXTRA[@]}"; }

status_of() { ctl status --json 2>/dev/null | jq -r --arg c "$1" '.[] | select(.code == $c) | .status' 2>/dev/null; }
both_are() { [ "$(status_of billing-bridge)" = "$1" ] && [ "$(status_of report-worker)" = "$1" ]; }
either_is() { [ "$(status_of billing-bridge)" = "$1" ] || [ "$(status_of report-worker)" = "$1" ]; }
# STALE lasts only from the stale to the offline threshold (2 s here); a poll on a loaded machine can
# miss it (and a late sweep may go straight to OFFLINE), so the live check accepts OFFLINE too; the
# audit trail's STALE transitions are reported.
stale_or_later() { either_is STALE || either_is OFFLINE; }
file_exists() { [ -s "$1" ]; }
control_plane_answers() { ctl status --json >/dev/null 2>&1; }
control_plane_answers_broker() { ctl token list --json >/dev/null 2>&1; }
procs_alive() { local n; for n in "$@"; do alive "$n" || fail "$n exited early (see its log)"; done; }

mint_token() {
    local code=$1 token=""
    for _ in $(seq 1 40); do
        if token=$(ctl token create --name "netns-$code" --agent-code "$code" --expires 10m 2>>"$WORK/logs/capsulectl.log"); then
            [ -n "$token" ] && { echo "$token"; return 0; }
        fi
        sleep 0.25
    done
    return 1
}

command_status() { ctl command show "$1" --json 2>/dev/null | jq -r '.status' 2>/dev/null; }
command_terminal() {
    COMMAND_STATUS=$(command_status "$1")
    case "$COMMAND_STATUS" in SUCCEEDED | FAILED | EXPIRED | CANCELLED) return 0 ;; *) return 1 ;; esac
}

# ---------------------------------------------------------------------------------------------
# Preparation

for tool in jq; do
    command -v "$tool" >/dev/null 2>&1 && continue
    say "installing $tool"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool" >/dev/null 2>&1 || fail "cannot install $tool"
done

for exe in "${EXECUTABLES[@]}"; do
    [ -x "$BIN_SRC/$exe" ] || fail "$BIN_SRC/$exe not found: build first (swift build) or set CAPSULE_BIN"
done

WORK=$(mktemp -d /tmp/capsule-netns-e2e.XXXXXX)
chmod 700 "$WORK"
mkdir -p "$WORK/bin" "$WORK/logs" "$WORK/capture"
# Private copies, so a rebuild during the run cannot swap the executables under us.
for exe in "${EXECUTABLES[@]}"; do cp "$BIN_SRC/$exe" "$WORK/bin/"; done
BIN="$WORK/bin"

# One directory per host: what would be /var/lib/capsule (the home) and /etc/capsule on that host.
H_BROKER="$WORK/hosts/broker/home"
H_AGGREGATOR="$WORK/hosts/aggregator/home"
H_AUDIT="$WORK/hosts/audit/home"
H_AGENT1="$WORK/hosts/agent1/home"
H_AGENT2="$WORK/hosts/agent2/home"
H_BROKER2="$WORK/hosts/broker2/home"
for h in broker aggregator audit agent1 agent2 broker2 pg; do mkdir -p "$WORK/hosts/$h/home" "$WORK/hosts/$h/etc"; done

# Leftovers of an earlier run that was killed hard (we hold the lock, so nobody else owns them).
"$NETNS" down >/dev/null 2>&1 || true
"$NETNS" up 2>&1 | sed 's/^/  /'
NET_UP=1
eval "$("$NETNS" env)"
mark "network up: control plane $CP_NET, site LAN $LAN_NET behind NAT at $SITE_UPLINK_IP"

# The control-plane hosts must have no route to the private LAN.
for ns in "$NS_BROKER" "$NS_AGGREGATOR" "$NS_AUDIT"; do
    if ip netns exec "$ns" ip route get "$AGENT1_IP" >/dev/null 2>&1; then fail "$ns has a route to $AGENT1_IP"; fi
done
say "no route from broker/aggregator/audit to $LAN_NET: ok"

# Witnesses, started before any Capsule traffic: every SYN on the site's uplink, seen from the site
# and from the switch port facing it, and every new flow in the site's connection tracking. The
# switch-side capture runs without a gap; libpcap on the uplink itself notices that the link is up
# again only on its next poll, so it may miss a packet right after the link returns.
SYN_SUMMARY=""
SYN='tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0'
start tcpdump-uplink "$NS_SITE" tcpdump -i "$SITE_UPLINK_DEV" -nn -U -Z root -w "$WORK/capture/uplink.pcap" "$SYN"
start tcpdump-switch "$NS_CORE" tcpdump -i v-site -nn -U -Z root -w "$WORK/capture/switch.pcap" "$SYN"
start conntrack "$NS_SITE" conntrack -E -e NEW -p tcp -o timestamp
wait_for "tcpdump to listen" 10 grep -q "listening on" "$WORK/logs/tcpdump-uplink.log"
wait_for "tcpdump to listen" 10 grep -q "listening on" "$WORK/logs/tcpdump-switch.log"

# ---------------------------------------------------------------------------------------------
# Control plane on three hosts

THRESHOLDS=(--heartbeat-seconds "$HB" --stale-seconds "$STALE" --offline-seconds "$OFFLINE")
ENDPOINTS=(--ingest "tcp://$BROKER_IP:7401" --bus "tcp://$BROKER_IP:7402" --router "tcp://$BROKER_IP:7403")
broker_args=(--home "$H_BROKER" --ingest-bind "tcp://$BROKER_IP:7401" --bus-bind "tcp://$BROKER_IP:7402"
    --router-bind "tcp://$BROKER_IP:7403" --advertise-host "$BROKER_IP" "${THRESHOLDS[@]}" --command-ttl-seconds "$TTL")

# First start of the broker creates its key pair and broker.pub.
start broker "$NS_BROKER" "$BIN/capsule-broker" "${broker_args[@]}"
wait_for "the broker's first start (broker.pub)" 20 file_exists "$H_BROKER/broker.pub"
# "scp broker.pub" to every other host.
for h in aggregator audit agent1 agent2; do cp "$H_BROKER/broker.pub" "$WORK/hosts/$h/etc/broker.pub"; done

start_aggregator() {
    start aggregator "$NS_AGGREGATOR" "$BIN/capsule-aggregator" --home "$H_AGGREGATOR" "${ENDPOINTS[@]}" \
        --broker-key "$WORK/hosts/aggregator/etc/broker.pub" "${THRESHOLDS[@]}"
}
start_audit() {
    start audit "$NS_AUDIT" "$BIN/capsule-audit" --home "$H_AUDIT" "${ENDPOINTS[@]}" \
        --broker-key "$WORK/hosts/audit/etc/broker.pub"
}
# The aggregator and the audit writer create their own key pairs (keys/<name>.key and .pub in their
# homes) on first start. The broker refuses them until it trusts those keys.
start_aggregator
start_audit
wait_for "aggregator.pub on the aggregator host" 20 file_exists "$H_AGGREGATOR/keys/aggregator.pub"
wait_for "audit.pub on the audit host" 20 file_exists "$H_AUDIT/keys/audit.pub"
# They are stopped again: after the broker refused their bus/ingest connections (ZAP), libzmq does
# not reconnect those sockets, so they must start after the broker trusts them.
stop_process aggregator
stop_process audit
# "scp" their public keys to the broker host, restart the broker trusting them, start them again.
cp "$H_AGGREGATOR/keys/aggregator.pub" "$H_AUDIT/keys/audit.pub" "$WORK/hosts/broker/etc/"
stop_process broker
start broker "$NS_BROKER" "$BIN/capsule-broker" "${broker_args[@]}" \
    --trust-service "aggregator=$WORK/hosts/broker/etc/aggregator.pub" --trust-service "audit=$WORK/hosts/broker/etc/audit.pub"
start_aggregator
start_audit
wait_for "the control plane to answer capsulectl status on the broker host" 30 control_plane_answers
procs_alive broker aggregator audit
mark "control plane up: broker $BROKER_IP, aggregator $AGGREGATOR_IP, audit $AUDIT_IP (trusted with --trust-service)"

# ---------------------------------------------------------------------------------------------
# Two agents behind the NAT, enrolled with tokens minted on the broker host

TOKEN1=$(mint_token site-billing) || fail "could not mint a registration token for site-billing"
TOKEN2=$(mint_token site-reports) || fail "could not mint a registration token for site-reports"
AGENT_ENDPOINTS=(--router "tcp://$BROKER_IP:7403" --ingest "tcp://$BROKER_IP:7401")

echo UP >"$WORK/hosts/agent1/billing.health"
start agent1 "$NS_AGENT1" "$BIN/capsule-demo-service" --home "$H_AGENT1" "${AGENT_ENDPOINTS[@]}" \
    --broker-key "$WORK/hosts/agent1/etc/broker.pub" --heartbeat-seconds "$HB" \
    --health-file "$WORK/hosts/agent1/billing.health" --token "$TOKEN1" --agent-code site-billing --code billing-bridge

# agent2: a plain shell worker governed by the capsule-agent sidecar (the demo's manifest).
mkdir -p "$WORK/hosts/agent2/state"
start worker "$NS_AGENT2" env DEMO_STATE="$WORK/hosts/agent2/state" /bin/sh deploy/demo/report-worker.sh run
start agent2 "$NS_AGENT2" env DEMO_STATE="$WORK/hosts/agent2/state" "$BIN/capsule-agent" \
    --manifest deploy/demo/report-worker.yaml --home "$H_AGENT2" "${AGENT_ENDPOINTS[@]}" \
    --broker-key "$WORK/hosts/agent2/etc/broker.pub" --heartbeat-seconds "$HB" --token "$TOKEN2" --agent-code site-reports

wait_for "billing-bridge and report-worker to read HEALTHY" 45 both_are HEALTHY
procs_alive broker aggregator audit agent1 agent2
mark "both agents behind NAT enrolled with tokens and HEALTHY (billing-bridge via the SDK, report-worker via the sidecar)"

# ---------------------------------------------------------------------------------------------
# Actions from the broker host reach agents behind the NAT

for target in "billing-bridge flush-cache" "report-worker resume"; do
    read -r svc act <<<"$target"
    result=$(timeout 40 ip netns exec "$NS_BROKER" "$BIN/capsulectl" action run "$svc" "$act" --json --home "$H_BROKER" --timeout 5 \
        2>>"$WORK/logs/capsulectl.log") || true
    st=$(jq -r '.status' <<<"$result" 2>/dev/null || true)
    [ "$st" = SUCCEEDED ] || fail "action $svc $act ended '$st': $result"
    mark "action $svc/$act from the broker host: SUCCEEDED ($(jq -r '.id' <<<"$result"), message: $(jq -r '.message // empty' <<<"$result"))"
done

# ---------------------------------------------------------------------------------------------
# Cut the site's uplink for longer than the offline threshold

ip -n "$NS_SITE" link set "$SITE_UPLINK_DEV" down
mark "LINK CUT: $NS_SITE $SITE_UPLINK_DEV down"
T_CUT=$LAST_MARK
wait_for "a service to read STALE (or already OFFLINE) during the cut" 15 stale_or_later
mark "STALE or OFFLINE seen ($(since "$T_CUT") s after the cut)"
wait_for "both services to read OFFLINE during the cut" 20 both_are OFFLINE
mark "OFFLINE seen for billing-bridge and report-worker ($(since "$T_CUT") s after the cut; offline threshold ${OFFLINE} s)"

result=$(ctl action run billing-bridge flush-cache --no-wait --json 2>>"$WORK/logs/capsulectl.log") || fail "action run --no-wait during the cut failed: $result"
CUT_COMMAND=$(jq -r '.id' <<<"$result")
[ -n "$CUT_COMMAND" ] && [ "$CUT_COMMAND" != null ] || fail "no command id from action run --no-wait: $result"
mark "command $CUT_COMMAND (billing-bridge/flush-cache) sent during the cut: $(jq -r '.status' <<<"$result"), TTL ${TTL} s"
T_SENT=$LAST_MARK

# Keep the cut going with the command outstanding, to twice the offline threshold: long enough for
# the agents' ZMTP heartbeats to declare the old connections dead and start reconnecting.
hold=$(awk -v t="$T_CUT" -v n="$EPOCHREALTIME" -v want=$((2 * OFFLINE)) 'BEGIN { r = t + want - n; if (r < 1) r = 1; printf "%.2f", r }')
sleep "$hold"
ip -n "$NS_SITE" link set "$SITE_UPLINK_DEV" up
mark "LINK RESTORED: $NS_SITE $SITE_UPLINK_DEV up (cut lasted $(since "$T_CUT") s)"
T_UP=$LAST_MARK

wait_for "both services to return to HEALTHY after the link came back" 60 both_are HEALTHY
mark "HEALTHY seen again for billing-bridge and report-worker ($(since "$T_UP") s after the link came back)"

for a in agent1 agent2; do
    lost=$(grep -m1 -o '^[^ ]*T\([0-9:]*\).*Lost the broker link' "$WORK/logs/$a.log" | sed -E 's/^[^T]*T([0-9:]+).*/\1/' || true)
    back=$(grep 'Connected to the broker' "$WORK/logs/$a.log" | tail -n 1 | sed -E 's/^[^T]*T([0-9:]+).*/\1/' || true)
    say "  $a log: lost the broker link at ${lost:-never}, last connected at ${back:-never} (times to the second)"
done
wait_for "command $CUT_COMMAND to end" $((TTL + 15)) command_terminal "$CUT_COMMAND"
case "$COMMAND_STATUS" in
SUCCEEDED) mark "COMMAND FATE: $CUT_COMMAND SUCCEEDED: delivered after the link returned ($(since "$T_SENT") s after it was sent)" ;;
EXPIRED) mark "COMMAND FATE: $CUT_COMMAND EXPIRED by its TTL (${TTL} s) before it could be delivered" ;;
*) fail "command $CUT_COMMAND sent during the cut ended $COMMAND_STATUS (expected SUCCEEDED or EXPIRED): $(ctl command show "$CUT_COMMAND" --json 2>&1)" ;;
esac
procs_alive broker aggregator audit agent1 agent2

# The audit writer on its own host recorded the round trip.
offline_events=$(ctl audit --subject service:billing-bridge --limit 1000 --json 2>/dev/null | jq '[.[] | select(.event.to == "OFFLINE")] | length' 2>/dev/null || echo 0)
[ "${offline_events:-0}" -ge 1 ] || fail "no billing-bridge OFFLINE transition in the audit trail"
stale_events=$(ctl audit --subject service:billing-bridge --limit 1000 --json 2>/dev/null | jq '[.[] | select(.event.to == "STALE")] | length' 2>/dev/null || echo 0)
say "audit trail (audit host $AUDIT_IP) holds $offline_events OFFLINE and $stale_events STALE transition(s) for billing-bridge: ok"

# ---------------------------------------------------------------------------------------------
# No connection was ever opened towards the site

sleep 0.5
stop_process tcpdump-uplink
stop_process tcpdump-switch
stop_process conntrack
inbound_filter="dst net $LAN_NET or dst host $SITE_UPLINK_IP"
for cap in uplink switch; do
    file="$WORK/capture/$cap.pcap"
    [ -f "$file" ] || fail "no $cap capture written"
    inbound=$(tcpdump -nn -r "$file" "$inbound_filter" 2>/dev/null | wc -l)
    outbound=$(tcpdump -nn -r "$file" "src host $SITE_UPLINK_IP and dst host $BROKER_IP" 2>/dev/null | wc -l)
    total=$(tcpdump -nn -r "$file" 2>/dev/null | wc -l)
    say "SYN capture ($cap side of the site uplink): $total SYN(s), $outbound outbound from the site to the broker, $inbound towards the site or its LAN"
    if [ "$inbound" != 0 ]; then
        tcpdump -nn -r "$file" "$inbound_filter" 2>/dev/null | head -20
        fail "$inbound SYN(s) towards the site or its LAN on the uplink ($cap capture)"
    fi
    [ "$outbound" -ge 2 ] || fail "the $cap capture saw no outbound SYNs: the witness did not work"
    SYN_SUMMARY+="${SYN_SUMMARY:+; }$cap side: $inbound inbound, $outbound outbound site->broker"
done

# Every new TCP flow the site tracked started on the LAN and went to the broker's ingest or router.
flows=$(grep -c 'NEW' "$WORK/logs/conntrack.log" || true)
bad=$(grep 'NEW' "$WORK/logs/conntrack.log" | awk -v lan="${LAN_NET%.0/24}." -v broker="$BROKER_IP" '{
        src = ""; dst = ""; dport = ""
        for (i = 1; i <= NF; i++) {
            if (src == "" && $i ~ /^src=/) src = substr($i, 5)
            else if (dst == "" && $i ~ /^dst=/) dst = substr($i, 5)
            else if (dport == "" && $i ~ /^dport=/) dport = substr($i, 7)
        }
        if (index(src, lan) != 1 || dst != broker || (dport != "7401" && dport != "7403")) print
    }' || true)
[ "${flows:-0}" -ge 2 ] || fail "conntrack saw no new flows: the witness did not work"
if [ -n "$bad" ]; then echo "$bad" | head -20; fail "conntrack saw new flows that did not go from the LAN to the broker"; fi
say "conntrack in $NS_SITE: $flows new TCP flow(s), all from $LAN_NET to $BROKER_IP:7401/7403: ok"
for ns in "$NS_BROKER" "$NS_AGGREGATOR" "$NS_AUDIT"; do
    if ip netns exec "$ns" ip route get "$AGENT1_IP" >/dev/null 2>&1; then fail "$ns has a route to $AGENT1_IP"; fi
done

# ---------------------------------------------------------------------------------------------
# Past one machine: PostgreSQL on its own host, the stores migrated to it, a broker pair

# The PostgreSQL host: a private cluster listening on its address, the control-plane network let in.
# Its folder is outside WORK (mode 0700), since the server runs as an unprivileged user.
PG_DIR=$(mktemp -d /tmp/capsule-netns-pg.XXXXXX)
PG_URL=$(ip netns exec "$NS_PG" env CAPSULE_PG_LISTEN="$PG_IP" CAPSULE_PG_TRUST_NET="$CP_NET" CAPSULE_PG_OWNER_PID=$$ \
    "$REPO/scripts/pg-cluster.sh" start "$PG_DIR" 5432 9>&- 2>>"$WORK/logs/postgres.log" | tail -n 1) \
    || fail "could not start PostgreSQL on $NS_PG (see logs/postgres.log)"
STORE="$PG_URL?timeout=3"
mark "PostgreSQL up on its own host: $PG_URL"

# The daemons stop; each host's SQLite store moves to PostgreSQL, checked table by table.
for name in agent1 agent2 audit aggregator broker; do stop_process "$name"; done
for pair in "$NS_BROKER:$H_BROKER:broker" "$NS_AGGREGATOR:$H_AGGREGATOR:aggregator" "$NS_AUDIT:$H_AUDIT:audit"; do
    IFS=: read -r ns home name <<<"$pair"
    ip netns exec "$ns" "$BIN/capsulectl" store migrate --from "sqlite:$home/data" --to "$PG_URL" --store "$name" \
        >>"$WORK/logs/store-migrate.log" 2>&1 || fail "capsulectl store migrate of the $name store failed: $(tail -n 5 "$WORK/logs/store-migrate.log")"
done
migrated=$(grep -c ' ok$' "$WORK/logs/store-migrate.log" || true)
mark "stores migrated from SQLite to PostgreSQL with capsulectl store migrate: $migrated tables, every count matches"

# The second broker host gets the first one's keys folder (one key pair for the pair) and its trust.
mkdir -p "$H_BROKER2"
cp -a "$H_BROKER/keys" "$H_BROKER2/keys"
cp "$WORK/hosts/broker/etc/"*.pub "$WORK/hosts/broker2/etc/"
pair_args() {
    local home=$1 ip=$2 etc=$3
    echo --home "$home" --store "$STORE" --lease-seconds "$LEASE" --ingest-bind "tcp://$ip:7401" --bus-bind "tcp://$ip:7402" \
        --router-bind "tcp://$ip:7403" --advertise-host "$ip" "${THRESHOLDS[@]}" --command-ttl-seconds "$TTL" \
        --trust-service "aggregator=$etc/aggregator.pub" --trust-service "audit=$etc/audit.pub"
}
# shellcheck disable=SC2046
start broker "$NS_BROKER" "$BIN/capsule-broker" $(pair_args "$H_BROKER" "$BROKER_IP" "$WORK/hosts/broker/etc")
BROKERS="tcp://$BROKER_IP:7403,tcp://$BROKER2_IP:7403"
CTL_EXTRA=(--broker "$BROKERS")
wait_for "broker A active on the PostgreSQL store" 30 control_plane_answers_broker
# shellcheck disable=SC2046
start broker2 "$NS_BROKER2" "$BIN/capsule-broker" $(pair_args "$H_BROKER2" "$BROKER2_IP" "$WORK/hosts/broker2/etc")
wait_for "broker B standing by" 20 grep -q "standing by for the lease" "$WORK/logs/broker2.log"
start aggregator "$NS_AGGREGATOR" "$BIN/capsule-aggregator" --home "$H_AGGREGATOR" --broker "$BROKERS" --store "$STORE" \
    --broker-key "$WORK/hosts/aggregator/etc/broker.pub" "${THRESHOLDS[@]}"
start audit "$NS_AUDIT" "$BIN/capsule-audit" --home "$H_AUDIT" --broker "$BROKERS" --store "$STORE" \
    --broker-key "$WORK/hosts/audit/etc/broker.pub"
start agent1 "$NS_AGENT1" "$BIN/capsule-demo-service" --home "$H_AGENT1" --broker "$BROKERS" \
    --broker-key "$WORK/hosts/agent1/etc/broker.pub" --heartbeat-seconds "$HB" \
    --health-file "$WORK/hosts/agent1/billing.health" --agent-code site-billing --code billing-bridge
start agent2 "$NS_AGENT2" env DEMO_STATE="$WORK/hosts/agent2/state" "$BIN/capsule-agent" \
    --manifest deploy/demo/report-worker.yaml --home "$H_AGENT2" --broker "$BROKERS" \
    --broker-key "$WORK/hosts/agent2/etc/broker.pub" --heartbeat-seconds "$HB" --agent-code site-reports
wait_for "both services HEALTHY through the pair" 45 both_are HEALTHY
mark "broker pair up: active $BROKER_IP, standby $BROKER2_IP, every store in PostgreSQL at $PG_IP; both agents HEALTHY"

# kill -9 the active broker: the standby takes over within the lease, the fleet follows on its own.
kill -KILL "${PIDS[broker]}"
mark "ACTIVE BROKER KILLED (kill -9 on $BROKER_IP)"
T_KILL=$LAST_MARK
wait_for "broker B to serve" $((LEASE + 15)) control_plane_answers_broker
mark "broker B serving ($(since "$T_KILL") s after the kill; lease ${LEASE} s)"
result=""
run_through_pair() {
    result=$(timeout 20 ip netns exec "$NS_BROKER" "$BIN/capsulectl" action run billing-bridge flush-cache --json --home "$H_BROKER" \
        --timeout 5 --broker "$BROKERS" 2>>"$WORK/logs/capsulectl.log") || return 1
    [ "$(jq -r '.status' <<<"$result" 2>/dev/null)" = SUCCEEDED ]
}
wait_for "an action to run through broker B" 30 run_through_pair
mark "action billing-bridge/flush-cache through broker B: SUCCEEDED ($(since "$T_KILL") s after the kill)"
wait_for "both services HEALTHY through broker B" 30 both_are HEALTHY
mark "both agents behind the NAT routed through broker B and HEALTHY ($(since "$T_KILL") s after the kill)"
FAILOVER_SUMMARY="standby serving after the kill, action and both agents through it (see the timeline)"

# ---------------------------------------------------------------------------------------------

echo
echo "netns-e2e timeline (UTC, seconds since start):"
printf '  %s\n' "${TIMELINE[@]}"
echo "  SYN capture on the site uplink (SYNs towards $SITE_UPLINK_IP or $LAN_NET = inbound): $SYN_SUMMARY"
echo "  conntrack (site): $flows new flow(s), every one LAN -> broker"
echo "  command sent during the cut: $CUT_COMMAND -> $COMMAND_STATUS"
echo "  broker pair on PostgreSQL: ${FAILOVER_SUMMARY:-not reached}"
echo "  total run time: $(since "$START") s"
