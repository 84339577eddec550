#!/usr/bin/env bash
# Builds capsule-bench and the daemons it launches (release, scratch path .build-bench) and runs it.
# The memory figures also read a second build of the bare process, the SDK probe and the sidecar, with
# the Swift runtime and Foundation linked statically (.build-bench-static): how docs/deployment.md
# tells operators to build. Usage: Benchmarks/run.sh [capsule-bench options, e.g. --quick, --seconds 5]
# The table goes to stdout, progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=.build-bench
STATIC=.build-bench-static
for product in capsule-broker capsule-aggregator capsule-audit capsulectl capsule-bench \
    capsule-bare capsule-sdk-service capsule-agent; do
    echo "· building $product (release, $SCRATCH)" >&2
    swift build -c release --scratch-path "$SCRATCH" --product "$product" >&2
done
for product in capsule-bare capsule-sdk-service capsule-agent; do
    echo "· building $product (release, --static-swift-stdlib, $STATIC)" >&2
    swift build -c release --static-swift-stdlib --scratch-path "$STATIC" --product "$product" >&2
done
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)"
STATIC_BIN="$(swift build -c release --static-swift-stdlib --scratch-path "$STATIC" --show-bin-path)"
exec "$BIN/capsule-bench" --bin "$BIN" --build "shared Swift runtime=$BIN" \
    --build "static Swift runtime (--static-swift-stdlib)=$STATIC_BIN" "$@"
