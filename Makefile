# aios-swift: build, test and demo entry points. `make test` is what CI runs.
SWIFT ?= swift

.PHONY: build test demo clean

build:
	$(SWIFT) build

# Unit tests plus integration tests that start real `aios up` processes on loopback ports.
test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

# Starts the platform on a temporary data dir, applies an example cluster, component and block, shows them, stops.
demo: build
	bash scripts/demo.sh

clean:
	rm -rf .build
