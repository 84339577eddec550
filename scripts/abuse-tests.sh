#!/usr/bin/env bash
# The long form of the hostile-input tests (issue 9's targets): 100 fresh keys sending hellos with
# 200 KB codes as fast as they can for 60 s, one enrolled key flooding ingest for 60 s, and the
# hostile-input suite (oversized results, reset stores, forged names, disabled agents, one-time
# fields). Prints, per flood, the messages sent, the audit events and bytes the stores gained, and
# the well-behaved agent's worst heartbeat age (docs/reliability.md, docs/security.md).
set -euo pipefail
cd "$(dirname "$0")/.."
make deps
swift build --build-tests
CAPSULE_ABUSE_SECONDS="${CAPSULE_ABUSE_SECONDS:-60}" CAPSULE_ABUSE_KEYS="${CAPSULE_ABUSE_KEYS:-100}" \
    swift test --skip-build --disable-xctest --filter 'AbuseEndToEndTests|HostileInputEndToEndTests' 2>&1 \
    | tee /tmp/capsule-abuse-tests.log | grep -E "abuse\[|✔ Test|✘"
