#!/usr/bin/env bash
# `make proto`: regenerates the committed Swift and Python code from proto/*.proto.
# Needs protoc (Debian: protobuf-compiler) and builds the two Swift plugins in .build-proto (release, ~3 min once).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
swift build -c release --scratch-path .build-proto --product protoc-gen-grpc-swift-2
swift build -c release --scratch-path .build-proto --product protoc-gen-swift
PLUGINS=.build-proto/release

protoc -I proto \
  --plugin=protoc-gen-swift="$PLUGINS/protoc-gen-swift" \
  --swift_out=Sources/AIOSWire --swift_opt=Visibility=Public \
  --plugin=protoc-gen-grpc-swift-2="$PLUGINS/protoc-gen-grpc-swift-2" \
  --grpc-swift-2_out=Sources/AIOSWire --grpc-swift-2_opt=Visibility=Public \
  proto/aios_packet.proto proto/aios_instance.proto proto/aios_gateway.proto proto/aios_vdag.proto
rm -f Sources/AIOSWire/aios_packet.grpc.swift  # the packet proto has no service
echo "generated Swift into Sources/AIOSWire"

if [ -f python/aios_instance/gen_proto.sh ]; then
  PYTHON=${PYTHON:-.venv/bin/python} bash python/aios_instance/gen_proto.sh
  echo "generated Python into python/aios_instance/aios_instance/proto"
fi
