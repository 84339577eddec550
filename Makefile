# Capsule: `make demo` runs a local control plane with demo services and a live status view;
# `make test` runs the whole test suite. Both install what they need first.
SHELL := /bin/bash
SWIFT ?= swift
# postgresql: the server binaries for the tests' private clusters (scripts/pg-cluster.sh); Debian's
# default cluster is not created (createcluster.conf below), so nothing listens on 5432.
APT_PACKAGES := libzmq3-dev libsodium-dev libsqlite3-dev python3-venv postgresql
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
# The Python SDK's virtual environment: the SDK (pyzmq is its one dependency) and pytest, from PyPI.
VENV := .venv
PYTHON_SOURCES := sdk/python/pyproject.toml $(shell find sdk/python/src -name '*.py' -o -name py.typed 2>/dev/null)

.PHONY: deps build release test pytest venv fuzz-short fuzz demo clean

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

test: deps venv
	$(SWIFT) build --build-tests
	set -o pipefail; $(SWIFT) test --skip-build --disable-xctest 2>&1 | tee .build/test-output.log
	$(MAKE) fuzz-short
	@# The Python SDK's tests, unit and end-to-end (against the binaries just built).
	@set -o pipefail; $(MAKE) --no-print-directory pytest 2>&1 | tee .build/pytest-output.log; echo $$? > .build/pytest-rc
	@# One plain closing line for CI: Swift Testing's count plus pytest's; fails if pytest failed.
	@swift=$$(grep -Eo 'Test run with [0-9]+ tests' .build/test-output.log | tail -1 | grep -Eo '[0-9]+'); \
	 summary=$$(grep -E '[0-9]+ (passed|failed|errors?)' .build/pytest-output.log | tail -1); \
	 py_passed=$$(echo "$$summary" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+'); \
	 py_failed=$$(echo "$$summary" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+'); \
	 py_errors=$$(echo "$$summary" | grep -Eo '[0-9]+ errors?' | grep -Eo '[0-9]+'); \
	 rc=$$(cat .build/pytest-rc); failed=$$(( $${py_failed:-0} + $${py_errors:-0} )); \
	 if [ "$$rc" != 0 ] && [ "$$failed" = 0 ]; then failed=1; fi; \
	 echo "tests: $$(( $${swift:-0} + $${py_passed:-0} )) passed, $$failed failed"; \
	 [ "$$rc" = 0 ]

# pytest over sdk/python/tests; the end-to-end tests start the daemons from .build/debug.
pytest: venv
	cd sdk/python && CAPSULE_BIN="$(CURDIR)/.build/debug" "$(CURDIR)/$(VENV)/bin/python" -m pytest -q -p no:cacheprovider tests

venv: $(VENV)/.installed

$(VENV)/.installed: $(PYTHON_SOURCES)
	[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check ./sdk/python pytest
	$(VENV)/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps ./sdk/python
	touch $@

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
	rm -rf .build .demo-home $(VENV)
