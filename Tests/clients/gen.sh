#!/usr/bin/env bash
# Regenerates aios_service_pb2.py and aios_service_pb2_grpc.py (committed) from aios_service.proto.
# Needs grpcio-tools (pip install -r python/requirements-dev.txt); PYTHON selects the interpreter:
#   PYTHON=.venv/bin/python bash Tests/clients/gen.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
PY="${PYTHON:-python3}"

rm -f aios_service_pb2.py aios_service_pb2_grpc.py
"$PY" -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. aios_service.proto
echo "generated: $(pwd)/aios_service_pb2.py $(pwd)/aios_service_pb2_grpc.py"
