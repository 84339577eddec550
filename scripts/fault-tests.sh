#!/usr/bin/env bash
# The long form of the fault tests: over 100,000 events while the audit writer or the aggregator is
# killed with SIGKILL and restarted, the broker killed with commands pending, and a late subscriber.
# Prints the figures quoted in docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
make deps
swift build --build-tests
CAPSULE_FAULT_SERVICES="${CAPSULE_FAULT_SERVICES:-1000}" CAPSULE_FAULT_ROUNDS="${CAPSULE_FAULT_ROUNDS:-125}" \
    swift test --skip-build --filter FaultEndToEndTests 2>&1 | tee /tmp/capsule-fault-tests.log | grep -E "fault\[|✔|✘"
