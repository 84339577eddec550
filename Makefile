# Capsule: `make demo` runs a local control plane with demo services and a live status view;
# `make test` runs the whole test suite. Both install what they need first.
SHELL := /bin/bash
SWIFT ?= swift
# chromium and chromium-driver: the web console's browser tests (tests/console), headless, no browser download.
# postgresql: the server binaries for the tests' private clusters (scripts/pg-cluster.sh); Debian's
# default cluster is not created (createcluster.conf below), so nothing listens on 5432.
APT_PACKAGES := libzmq3-dev libsodium-dev libsqlite3-dev python3-venv chromium chromium-driver postgresql
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
# The Python SDK's virtual environment: the SDK (pyzmq is its one dependency), pytest, and selenium for
# the console's browser tests (it drives Debian's chromium through chromium-driver), from PyPI.
VENV := .venv
PYTHON_SOURCES := sdk/python/pyproject.toml $(shell find sdk/python/src -name '*.py' -o -name py.typed 2>/dev/null)

# The commit `--version` names (Package.swift passes it to one C file; docs/decisions.md). A tree
# with uncommitted changes says so with -dirty. Without make, builds say "commit unknown".
CAPSULE_COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
export CAPSULE_COMMIT

.PHONY: deps build release test lint format tsan pytest console-test venv fuzz-short fuzz demo clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		if echo "$$missing" | grep -q postgresql && [ ! -e /etc/postgresql-common/createcluster.conf ]; then \
			$(SUDO) mkdir -p /etc/postgresql-common/createcluster.d; \
			echo "create_main_cluster = false" | $(SUDO) tee /etc/postgresql-common/createcluster.d/capsule.conf >/dev/null; \
		fi; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift not found: install the Swift 6 toolchain (swift.org) first"; exit 1; }

build: deps
	$(SWIFT) build

# swift-format (in the Swift toolchain) with swift-nio's rules (.swift-format): `make format` rewrites,
# `make lint` (the first step of `make test`) fails on any difference. Package.swift makes every
# warning in Capsule's own targets an error, so the build below is also the warnings gate.
FORMAT_PATHS := Sources Tests Benchmarks Fuzz Package.swift

lint:
	$(SWIFT) format lint --strict --recursive --parallel $(FORMAT_PATHS)

format:
	$(SWIFT) format format --in-place --recursive --parallel $(FORMAT_PATHS)

test: deps venv lint
	$(SWIFT) build --build-tests
	set -o pipefail; $(SWIFT) test --skip-build --disable-xctest 2>&1 | tee .build/test-output.log
	$(MAKE) fuzz-short
	@# The Python SDK's tests and the web console's browser tests (against the binaries just built).
	@set -o pipefail; $(MAKE) --no-print-directory pytest 2>&1 | tee .build/pytest-output.log; echo $$? > .build/pytest-rc
	@# One plain closing line for CI: Swift Testing's count plus every pytest run's; fails if any failed.
	@swift=$$(grep -Eo 'Test run with [0-9]+ tests' .build/test-output.log | tail -1 | grep -Eo '[0-9]+'); \
	 summaries=$$(grep -E '^=* ?([0-9]+ [a-z]+(, )?)+ in [0-9.]+s' .build/pytest-output.log); \
	 count() { echo "$$summaries" | grep -Eo "[0-9]+ $$1" | awk '{ n += $$1 } END { print n + 0 }'; }; \
	 py_passed=$$(count passed); py_failed=$$(count failed); py_errors=$$(count 'errors?'); \
	 rc=$$(cat .build/pytest-rc); failed=$$(( $${py_failed:-0} + $${py_errors:-0} )); \
	 if [ "$$rc" != 0 ] && [ "$$failed" = 0 ]; then failed=1; fi; \
	 echo "tests: $$(( $${swift:-0} + $${py_passed:-0} )) passed, $$failed failed"; \
	 [ "$$rc" = 0 ]

# pytest over sdk/python/tests, then over tests/console (the web console in headless chromium); the
# end-to-end tests start the daemons from .build/debug. Both suites always run; either failing fails.
pytest: venv
	@rc=0; \
	(cd sdk/python && CAPSULE_BIN="$(CURDIR)/.build/debug" "$(CURDIR)/$(VENV)/bin/python" -m pytest -q -p no:cacheprovider tests) || rc=1; \
	CAPSULE_BIN="$(CURDIR)/.build/debug" "$(CURDIR)/$(VENV)/bin/python" -m pytest -q -p no:cacheprovider tests/console || rc=1; \
	exit $$rc

# Just the console's browser tests (screenshots land in docs/console/).
console-test: venv
	CAPSULE_BIN="$(CURDIR)/.build/debug" "$(CURDIR)/$(VENV)/bin/python" -m pytest -q -p no:cacheprovider tests/console

venv: $(VENV)/.installed

# Also after a Makefile change, so an older .venv gains what this line adds (selenium, say).
$(VENV)/.installed: $(PYTHON_SOURCES) Makefile
	[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check ./sdk/python pytest selenium
	$(VENV)/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps ./sdk/python
	touch $@

# The unit tests under ThreadSanitizer, in a build of their own (not part of `make test`: a second full
# instrumented build does not fit CI's time on two cores; docs/decisions.md). The end-to-end tests,
# which run daemons as processes, are left out.
tsan: deps
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --disable-xctest --skip CapsuleEndToEndTests

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

demo: build venv
	./deploy/demo/run-demo.sh

clean:
	rm -rf .build .build-tsan .demo-home $(VENV)
