#!/usr/bin/env bash
# The long form of the broker pair's failover test and of the PostgreSQL outage test
# (docs/reliability.md):
#   - 1,000 raw protocol-v1 agents heartbeating every second plus three SDK agents, 200 commands in
#     flight, kill -9 of the active broker: standby serving after N s (target: lease + 1 s), all
#     agents routed through it (target: within 15 s), audit events lost/duplicated (counted in the
#     audit store), commands ended exactly once;
#   - the PostgreSQL server stopped for 60 s under broker, aggregator and audit writer.
# Sizes: CAPSULE_FAILOVER_AGENTS (1000), CAPSULE_FAILOVER_LEASE (2 s), CAPSULE_OUTAGE_SECONDS (60).
# Prints the figures quoted in docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
make deps
swift build --build-tests
CAPSULE_FAILOVER_AGENTS="${CAPSULE_FAILOVER_AGENTS:-1000}" CAPSULE_FAILOVER_LEASE="${CAPSULE_FAILOVER_LEASE:-2}" \
CAPSULE_OUTAGE_SECONDS="${CAPSULE_OUTAGE_SECONDS:-60}" \
    swift test --skip-build --disable-xctest --filter "FailoverEndToEndTests|StoreOutageEndToEndTests" 2>&1 \
    | tee /tmp/capsule-failover-tests.log | grep -E "failover:|outage:|✔|✘"
