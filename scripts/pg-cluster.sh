#!/usr/bin/env bash
# A private PostgreSQL cluster in a folder of its own, for tests, benchmarks and scripts: never the
# system cluster, never a port it did not pick.
#
#   scripts/pg-cluster.sh start DIR [PORT]   initdb into DIR/data (once), start it on 127.0.0.1:PORT
#                                            (a free port if none) and a unix socket in DIR, create
#                                            the database `capsule`; prints postgres://capsule@127.0.0.1:PORT/capsule
#   scripts/pg-cluster.sh stop DIR           fast shutdown (immediate if that hangs); keeps DIR
#   scripts/pg-cluster.sh destroy DIR        stop, then remove DIR
#
# PostgreSQL refuses to run as root: as root, the cluster runs as $CAPSULE_PG_USER (default
# `nobody`) through runuser, and DIR is handed to that user. Binaries come from Debian's
# postgresql package (/usr/lib/postgresql/N/bin, highest N), or $CAPSULE_PG_BIN.
# CAPSULE_PG_FSYNC=on keeps fsync on (benchmarks); tests run with it off. CAPSULE_PG_OWNER_PID=PID
# destroys the cluster once that process has ended. CAPSULE_PG_LISTEN=ADDRESS listens there instead
# of 127.0.0.1 (a PostgreSQL host in deploy/netns), and CAPSULE_PG_TRUST_NET=CIDR lets that network
# in without a password (test networks only).
set -euo pipefail
# The server outlives this script: it must not keep open any descriptor its caller handed down (a
# pipe the caller reads to its end, a socket that tells a parent its child has exited).
for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    case $fd in 0 | 1 | 2 | 255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done

command=${1:?usage: pg-cluster.sh start|stop|destroy DIR [PORT]}
dir=${2:?usage: pg-cluster.sh start|stop|destroy DIR [PORT]}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=${CAPSULE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)}
if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
    if command -v pg_config >/dev/null; then bin=$(pg_config --bindir); fi
fi
if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
    echo "pg-cluster: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    exit 3
fi
os_user=${CAPSULE_PG_USER:-nobody}

as_pg() {
    if [ "$(id -u)" = 0 ]; then (cd "$dir" && runuser -u "$os_user" -- "$@"); else (cd "$dir" && "$@"); fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$command" in
start)
    if [ "$(id -u)" = 0 ]; then chown "$os_user" "$dir"; fi
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$bin/initdb" -D "$dir/data" -U capsule --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if [ -n "${CAPSULE_PG_TRUST_NET:-}" ] && ! grep -q "capsule-trust" "$dir/data/pg_hba.conf"; then
        echo "host all all ${CAPSULE_PG_TRUST_NET} trust # capsule-trust" >>"$dir/data/pg_hba.conf"
    fi
    port=${3:-$(cat "$dir/port" 2>/dev/null || free_port)}
    echo "$port" >"$dir/port"
    fsync=${CAPSULE_PG_FSYNC:-off}
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o \
        "-p $port -k $dir -c listen_addresses=${CAPSULE_PG_LISTEN:-127.0.0.1} -c fsync=$fsync -c synchronous_commit=$fsync -c full_page_writes=$fsync -c max_connections=200 -c shared_buffers=128MB" \
        start >/dev/null || { tail -20 "$dir/postgres.log" >&2; exit 1; }
    if ! as_pg "$bin/psql" -h "$dir" -p "$port" -U capsule -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'capsule'" | grep -q 1; then
        as_pg "$bin/createdb" -h "$dir" -p "$port" -U capsule capsule
    fi
    # CAPSULE_PG_OWNER_PID: destroy the cluster once that process is gone (a test run that ends,
    # or crashes, leaves no server behind).
    if [ -n "${CAPSULE_PG_OWNER_PID:-}" ] && [ ! -f "$dir/watcher" ]; then
        touch "$dir/watcher"
        setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" destroy "$3"' _ \
            "$CAPSULE_PG_OWNER_PID" "$0" "$dir" </dev/null >/dev/null 2>&1 &
    fi
    echo "postgres://capsule@${CAPSULE_PG_LISTEN:-127.0.0.1}:$port/capsule"
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1 \
        || as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
    ;;
destroy)
    "$0" stop "$dir"
    rm -rf "$dir"
    ;;
*)
    echo "pg-cluster: unknown command $command" >&2
    exit 2
    ;;
esac
