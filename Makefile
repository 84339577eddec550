# Capsule: `make demo` runs a local control plane with demo services and a live status view;
# `make test` runs the whole test suite. Both install what they need first.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libzmq3-dev libsodium-dev libsqlite3-dev
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: deps build release test fuzz-short fuzz demo clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift not found: install the Swift 6 toolchain (swift.org) first"; exit 1; }

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	set -o pipefail; $(SWIFT) test --skip-build --disable-xctest 2>&1 | tee .build/test-output.log
	$(MAKE) fuzz-short
	@# One plain closing line for CI, taken from Swift Testing's summary.
	@passed=$$(grep -Eo 'Test run with [0-9]+ tests' .build/test-output.log | tail -1 | grep -Eo '[0-9]+'); \
	 echo "tests: $${passed:-0} passed, 0 failed"

# libFuzzer over the wire decoder and the broker's ingest checks (Fuzz/README.md).
FUZZ_BUILD := $(SWIFT) build -c release --product capsule-fuzz --scratch-path .build-fuzz \
	-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -use-ld=lld

fuzz-short: deps
	$(FUZZ_BUILD)
	rm -rf .build-fuzz/work && mkdir -p .build-fuzz/work
	.build-fuzz/release/capsule-fuzz -runs=50000 -max_len=4096 .build-fuzz/work Fuzz/corpus

fuzz: deps
	$(FUZZ_BUILD)
	mkdir -p .build-fuzz/work
	.build-fuzz/release/capsule-fuzz -runs=$${RUNS:-1000000} -max_len=4096 .build-fuzz/work Fuzz/corpus

demo: build
	./deploy/demo/run-demo.sh

clean:
	rm -rf .build .demo-home
