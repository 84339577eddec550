#!/usr/bin/env bash
# Builds capsule-bench and the daemons it launches (release, scratch path .build-bench) and runs it.
# Usage: Benchmarks/run.sh [capsule-bench options, e.g. --quick, --seconds 5, --agents 8]
# The table goes to stdout, progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=.build-bench
for product in capsule-broker capsule-aggregator capsule-audit capsulectl capsule-bench; do
    echo "· building $product (release, $SCRATCH)" >&2
    swift build -c release --scratch-path "$SCRATCH" --product "$product" >&2
done
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)"
exec "$BIN/capsule-bench" --bin "$BIN" "$@"
