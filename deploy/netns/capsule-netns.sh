#!/usr/bin/env bash
# Builds a small "separate hosts + NAT" network out of Linux network namespaces, to run Capsule the
# way it is deployed: a control plane on its own subnet and agents on a private LAN behind a NAT
# router that only lets connections out.
#
#   cap-core        a switch: the control-plane bridge (no address, no routes)
#   cap-broker      control-plane host  CP.10   (CP = 10.77.0 unless that /16 is in use on this host)
#   cap-aggregator  control-plane host  CP.11
#   cap-audit       control-plane host  CP.12
#   cap-broker2     control-plane host  CP.13  (the second broker of a pair)
#   cap-pg          control-plane host  CP.14  (PostgreSQL, the pair's shared store)
#   cap-site        NAT router: uplink CP.20 on the control-plane bridge, LAN LAN.1 (LAN = 192.168.77),
#                   MASQUERADE for the LAN, forwards nothing new from the uplink into the LAN
#   cap-agent1      agent host behind the NAT, LAN.10, default route via LAN.1
#   cap-agent2      agent host behind the NAT, LAN.11, default route via LAN.1
#
# The control-plane hosts know only their own /24: they have no route to the private LAN, so
# nothing can dial an agent host. Every veth and bridge is created inside the namespaces, so the
# root namespace's interfaces, routes and firewall are not touched.
#
# Usage (as root):
#   capsule-netns.sh up                 build it (installs iproute2, iptables, conntrack, tcpdump if missing)
#   capsule-netns.sh down               remove everything it made (idempotent, also after a failed up)
#   capsule-netns.sh status             print what exists
#   capsule-netns.sh env                print the addresses as shell assignments (source it)
#   capsule-netns.sh exec NAME -- CMD…  run CMD in namespace NAME (cap-NAME or NAME)
#
# Environment: CAPNET_PREFIX (default "cap-"): namespace name prefix.
set -eEuo pipefail

PREFIX="${CAPNET_PREFIX:-cap-}"
STATE_DIR=/run/capsule-netns
STATE_FILE="$STATE_DIR/${PREFIX%-}.env"
NS_CORE="${PREFIX}core"
NS_BROKER="${PREFIX}broker"
NS_AGGREGATOR="${PREFIX}aggregator"
NS_AUDIT="${PREFIX}audit"
NS_BROKER2="${PREFIX}broker2"
NS_PG="${PREFIX}pg"
NS_SITE="${PREFIX}site"
NS_AGENT1="${PREFIX}agent1"
NS_AGENT2="${PREFIX}agent2"
ALL_NS=("$NS_AGENT1" "$NS_AGENT2" "$NS_SITE" "$NS_BROKER" "$NS_AGGREGATOR" "$NS_AUDIT" "$NS_BROKER2" "$NS_PG" "$NS_CORE")

log() { echo "capsule-netns: $*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (network namespaces, veths, iptables)"; }

ensure_tools() {
    local missing=()
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v iptables >/dev/null 2>&1 || missing+=(iptables)
    command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
    command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing: ${missing[*]}"
        command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install ${missing[*]} by hand"
        local aptlog
        aptlog=$(mktemp)
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$aptlog" 2>&1; then
            cat "$aptlog" >&2
            rm -f "$aptlog"
            die "could not install ${missing[*]}"
        fi
        rm -f "$aptlog"
    fi
}

ns_exists() { [ -e "/run/netns/$1" ]; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Picks a 10.N.0.0/16 and a 192.168.M.0/24 that no address or route of the root namespace overlaps.
pick_subnets() {
    local used
    used="$(ip -4 -o addr show; ip -4 route show table all 2>/dev/null)"
    CP=""
    for n in 77 78 79 87 97 107 117 127 137 147; do
        if ! grep -Eq "(^|[^0-9])10\.$n\." <<<"$used"; then CP="10.$n.0"; break; fi
    done
    [ -n "$CP" ] || die "no unused 10.N.0.0/16 found among the candidates"
    LAN=""
    for m in 77 78 79 87 97; do
        if ! grep -Eq "(^|[^0-9])192\.168\.$m\." <<<"$used"; then LAN="192.168.$m"; break; fi
    done
    [ -n "$LAN" ] || die "no unused 192.168.M.0/24 found among the candidates"
}

write_state() {
    mkdir -p "$STATE_DIR"
    cat >"$STATE_FILE" <<EOF
NS_CORE=$NS_CORE
NS_BROKER=$NS_BROKER
NS_AGGREGATOR=$NS_AGGREGATOR
NS_AUDIT=$NS_AUDIT
NS_BROKER2=$NS_BROKER2
NS_PG=$NS_PG
NS_SITE=$NS_SITE
NS_AGENT1=$NS_AGENT1
NS_AGENT2=$NS_AGENT2
CP_NET=$CP.0/24
LAN_NET=$LAN.0/24
BROKER_IP=$CP.10
AGGREGATOR_IP=$CP.11
AUDIT_IP=$CP.12
BROKER2_IP=$CP.13
PG_IP=$CP.14
SITE_UPLINK_IP=$CP.20
SITE_LAN_IP=$LAN.1
AGENT1_IP=$LAN.10
AGENT2_IP=$LAN.11
SITE_UPLINK_DEV=uplink
EOF
}

# A host on the control-plane bridge: veth "eth0" in the host, "v-<name>" on the bridge in cap-core.
add_cp_host() {
    local ns=$1 short=$2 addr=$3
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
    ip -n "$NS_CORE" link add "v-$short" type veth peer name eth0 netns "$ns"
    ip -n "$NS_CORE" link set "v-$short" master cp-br up
    in_ns "$ns" ip addr add "$addr/24" dev eth0
    in_ns "$ns" ip link set eth0 up
}

# A host on the site's LAN bridge, default route via the site router.
add_lan_host() {
    local ns=$1 short=$2 addr=$3
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
    ip -n "$NS_SITE" link add "v-$short" type veth peer name eth0 netns "$ns"
    ip -n "$NS_SITE" link set "v-$short" master lan-br up
    in_ns "$ns" ip addr add "$addr/24" dev eth0
    in_ns "$ns" ip link set eth0 up
    in_ns "$ns" ip route add default via "$LAN.1"
}

cmd_up() {
    need_root
    ensure_tools
    for ns in "${ALL_NS[@]}"; do
        ns_exists "$ns" && die "namespace $ns already exists: run '$0 down' first"
    done
    pick_subnets
    trap 'log "up failed; cleaning up"; cmd_down >/dev/null 2>&1 || true' ERR

    # The control-plane switch.
    ip netns add "$NS_CORE"
    in_ns "$NS_CORE" ip link set lo up
    ip -n "$NS_CORE" link add cp-br type bridge
    ip -n "$NS_CORE" link set cp-br up

    add_cp_host "$NS_BROKER" broker "$CP.10"
    add_cp_host "$NS_AGGREGATOR" aggregator "$CP.11"
    add_cp_host "$NS_AUDIT" audit "$CP.12"
    add_cp_host "$NS_BROKER2" broker2 "$CP.13"
    add_cp_host "$NS_PG" pg "$CP.14"

    # The site router: uplink on the control-plane bridge, a LAN bridge for the agent hosts.
    ip netns add "$NS_SITE"
    in_ns "$NS_SITE" ip link set lo up
    ip -n "$NS_CORE" link add v-site type veth peer name uplink netns "$NS_SITE"
    ip -n "$NS_CORE" link set v-site master cp-br up
    in_ns "$NS_SITE" ip addr add "$CP.20/24" dev uplink
    in_ns "$NS_SITE" ip link set uplink up
    ip -n "$NS_SITE" link add lan-br type bridge
    in_ns "$NS_SITE" ip addr add "$LAN.1/24" dev lan-br
    in_ns "$NS_SITE" ip link set lan-br up
    in_ns "$NS_SITE" sysctl -q -w net.ipv4.ip_forward=1

    add_lan_host "$NS_AGENT1" agent1 "$LAN.10"
    add_lan_host "$NS_AGENT2" agent2 "$LAN.11"

    # NAT: the LAN leaves through the uplink masqueraded; from the uplink only replies come back in.
    # Nothing new may enter the LAN or the router itself from the uplink (a home or office router).
    in_ns "$NS_SITE" iptables -w -t nat -A POSTROUTING -s "$LAN.0/24" -o uplink -j MASQUERADE
    in_ns "$NS_SITE" iptables -w -A FORWARD -i lan-br -o uplink -j ACCEPT
    in_ns "$NS_SITE" iptables -w -A FORWARD -i uplink -o lan-br -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    in_ns "$NS_SITE" iptables -w -A FORWARD -i uplink -j DROP
    in_ns "$NS_SITE" iptables -w -A INPUT -i uplink -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    in_ns "$NS_SITE" iptables -w -A INPUT -i uplink -p icmp -j ACCEPT
    in_ns "$NS_SITE" iptables -w -A INPUT -i uplink -j DROP

    write_state
    trap - ERR
    log "up: control plane $CP.0/24 (broker $CP.10, aggregator $CP.11, audit $CP.12, broker2 $CP.13, PostgreSQL $CP.14, site uplink $CP.20), LAN $LAN.0/24 behind NAT (agents $LAN.10, $LAN.11)"
}

cmd_down() {
    need_root
    local ns pids
    for ns in "${ALL_NS[@]}"; do
        ns_exists "$ns" || continue
        # Processes still running in our namespaces (a run that died) would keep them alive.
        pids="$(ip netns pids "$ns" 2>/dev/null || true)"
        if [ -n "$pids" ]; then
            log "stopping processes left in $ns: $(echo $pids)"
            kill -TERM $pids 2>/dev/null || true
            sleep 1
            pids="$(ip netns pids "$ns" 2>/dev/null || true)"
            [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        fi
        if [ "$ns" = "$NS_SITE" ] && command -v iptables >/dev/null 2>&1; then
            in_ns "$ns" iptables -w -t nat -F 2>/dev/null || true
            in_ns "$ns" iptables -w -F 2>/dev/null || true
        fi
        # Deleting the namespace deletes the veths and bridges inside it (and their peers).
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -f "$STATE_FILE"
    rmdir "$STATE_DIR" 2>/dev/null || true
    local left=()
    for ns in "${ALL_NS[@]}"; do ns_exists "$ns" && left+=("$ns"); done
    [ "${#left[@]}" = 0 ] || die "could not remove: ${left[*]}"
    log "down: nothing left"
}

cmd_status() {
    local ns any=0
    for ns in "${ALL_NS[@]}"; do
        ns_exists "$ns" || continue
        any=1
        echo "== $ns"
        in_ns "$ns" ip -br addr show 2>/dev/null | sed 's/^/   /'
        in_ns "$ns" ip -4 route show 2>/dev/null | sed 's/^/   route: /'
        if [ "$ns" = "$NS_SITE" ] && command -v iptables >/dev/null 2>&1; then
            in_ns "$ns" iptables -w -t nat -S POSTROUTING 2>/dev/null | sed 's/^/   nat: /'
            in_ns "$ns" iptables -w -S 2>/dev/null | grep -v '^-P' | sed 's/^/   filter: /'
        fi
        local pids
        pids="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
        [ -z "$pids" ] || echo "   processes: $pids"
    done
    if [ "$any" = 0 ]; then echo "no ${PREFIX}* namespaces"; fi
    if [ -f "$STATE_FILE" ]; then echo "== addresses ($STATE_FILE)"; sed 's/^/   /' "$STATE_FILE"; fi
}

cmd_env() {
    [ -f "$STATE_FILE" ] || die "not up (no $STATE_FILE)"
    cat "$STATE_FILE"
}

cmd_exec() {
    local name=${1:-}
    [ -n "$name" ] || die "usage: $0 exec NAME -- CMD..."
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: $0 exec NAME -- CMD..."
    case "$name" in "$PREFIX"*) ;; *) name="$PREFIX$name" ;; esac
    ns_exists "$name" || die "no namespace $name"
    exec ip netns exec "$name" "$@"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
exec) shift; cmd_exec "$@" ;;
*) echo "usage: $0 up|down|status|env|exec NAME -- CMD..." >&2; exit 64 ;;
esac
