# The two commands of the README: `make demo` and `make test`.
SWIFT ?= swift
BIN_DIR = $(shell $(SWIFT) build --show-bin-path)

BENCH_SECONDS ?= 5
BENCH_ROUNDS ?= 3
# Per fuzz target.
FUZZ_SECONDS ?= 30
FUZZ_LONG_SECONDS ?= 600

.PHONY: all build release deps demo test fuzz fuzz-long bench bench-scale format lint clean

all: build

build:
	$(SWIFT) build

# Exclusivity is checked at run time in debug builds (what `make test` runs), not in the shipped binary:
# the checks cost about 15% of the HTTP path's user CPU (measured with `make bench`).
# The link order (Sources/MesherCLI/startup.order, see scripts/order-file.sh) is no input SwiftPM tracks: a newer
# one relinks by removing the binary.
release:
	@if [ Sources/MesherCLI/startup.order -nt .build/release/mesher ]; then rm -f .build/release/mesher; fi
	$(SWIFT) build -c release --static-swift-stdlib -Xswiftc -enforce-exclusivity=unchecked

deps:
	scripts/install-deps.sh

demo: deps build
	MESHER_BIN=$(BIN_DIR)/mesher scripts/demo.sh

# Unit tests, then the end-to-end tests (network namespaces, real iptables: needs root), then the fuzzers. Two
# swift test runs: the end-to-end tests block threads while they wait on real processes, which would starve the
# unit tests' async work on a 2-core machine. SWIFTNIO_STRICT: a task scheduled on a stopped event loop crashes
# (instead of printing a line) every Mesher the tests start.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip EndToEndTests
	SWIFTNIO_STRICT=1 MESHER_BIN=$(BIN_DIR)/mesher $(SWIFT) test --skip-build --filter EndToEndTests
	$(MAKE) fuzz

# libFuzzer on the parsers of hostile input (Tests/Fuzz, a package of its own), seeded with Tests/Fuzz/Corpus;
# fails on any crash or broken invariant and prints the input.
fuzz:
	SWIFT=$(SWIFT) FUZZ_SECONDS=$(FUZZ_SECONDS) Tests/Fuzz/run.sh

# Longer runs; what they find is minimised into Tests/Fuzz/Corpus, to be committed.
fuzz-long:
	SWIFT=$(SWIFT) FUZZ_SECONDS=$(FUZZ_LONG_SECONDS) Tests/Fuzz/run.sh --merge

# Direct vs HAProxy vs Mesher, side by side in one run (release build).
bench: deps release
	MESHER_BIN=.build/release/mesher BENCH_ROUNDS=$(BENCH_ROUNDS) bench/sidecar-bench.sh $(BENCH_SECONDS)

# Registries of 1k, 10k and 100k instances (file and etcd): idle CPU, RSS, change latency, CPU per change, routing latency.
bench-scale: deps release
	MESHER_BIN=.build/release/mesher bench/scale-bench.sh

format:
	swift-format format --in-place --recursive Sources Tests Package.swift

lint:
	swift-format lint --recursive Sources Tests Package.swift
	shellcheck scripts/*.sh .ci/run init-container/entrypoint.sh bench/sidecar-bench.sh bench/scale-bench.sh Tests/Fuzz/run.sh

clean:
	rm -rf .build Tests/Fuzz/.build
