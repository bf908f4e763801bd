#!/usr/bin/env bash
# Regenerates the Python protobuf/gRPC code from proto/*.proto.
# Run from the repository root:  bash python/aios_instance/gen_proto.sh
# Needs grpcio-tools (pip install -r python/requirements-dev.txt). PYTHON selects the interpreter.
set -euo pipefail

PY="${PYTHON:-python3}"
OUT="python/aios_instance/aios_instance/proto"

if [[ ! -f proto/aios_packet.proto || ! -f proto/aios_instance.proto ]]; then
    echo "gen_proto.sh: run me from the repository root (proto/aios_packet.proto not found)" >&2
    exit 2
fi

mkdir -p "$OUT"
rm -f "$OUT"/aios_packet_pb2.py "$OUT"/aios_packet_pb2.pyi \
      "$OUT"/aios_instance_pb2.py "$OUT"/aios_instance_pb2.pyi "$OUT"/aios_instance_pb2_grpc.py \
      "$OUT"/aios_packet_pb2_grpc.py

"$PY" -m grpc_tools.protoc \
    -I proto \
    --python_out="$OUT" \
    --pyi_out="$OUT" \
    --grpc_python_out="$OUT" \
    proto/aios_packet.proto proto/aios_instance.proto

# aios_packet.proto has no service: drop its empty grpc module.
rm -f "$OUT"/aios_packet_pb2_grpc.py

# protoc writes absolute imports (`import aios_packet_pb2 as ...`); make them package-relative.
for f in "$OUT"/*_pb2.py "$OUT"/*_pb2_grpc.py "$OUT"/*_pb2.pyi; do
    sed -i -E \
        -e 's/^import (aios_[a-z_]+_pb2)( as .*)?$/from . import \1\2/' \
        -e 's/^from (aios_[a-z_]+_pb2) import /from .\1 import /' \
        "$f"
done

[[ -f "$OUT/__init__.py" ]] || printf '"""Generated protobuf and gRPC code (see gen_proto.sh)."""\n' > "$OUT/__init__.py"
echo "generated into $OUT:"
ls "$OUT"
