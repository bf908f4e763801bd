# aios-swift: build, test and demo entry points. `make test` is what CI runs.
SWIFT ?= swift

.PHONY: build test demo bench clean

build:
	$(SWIFT) build

# Unit tests plus integration tests that start real `aios up` processes on loopback ports.
test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

# Starts the platform on a temporary data dir, applies an example cluster, component and block, shows them, stops.
demo: build
	bash scripts/demo.sh

# Benchmarks (release build); each prints its numbers and a ratio against a baseline measured in the same run.
bench:
	$(SWIFT) build -c release --product aios-bench
	.build/release/aios-bench

clean:
	rm -rf .build
