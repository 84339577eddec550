#!/usr/bin/env bash
# The fleet simulator (Benchmarks/README.md, "Fleet simulator"): builds the release daemons, capsulectl
# and capsule-bench into the scratch path .build-bench, one product after another, then runs
# `capsule-bench fleet` with the given options: the raw libzmq baseline first, then Capsule.
# Usage: Benchmarks/fleet.sh --agents 9000 [more capsule-bench fleet options; --help lists them]
# The timeline and the closing table go to stdout, progress and build output to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=.build-bench
if [[ "${FLEET_SKIP_BUILD:-}" != 1 ]]; then
    for product in capsule-broker capsule-aggregator capsule-audit capsulectl capsule-bench; do
        echo "· building $product (release, $SCRATCH)" >&2
        swift build -c release --scratch-path "$SCRATCH" --product "$product" >&2
    done
fi
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)"
exec "$BIN/capsule-bench" fleet --bin "$BIN" "$@"
