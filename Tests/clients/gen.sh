#!/usr/bin/env bash
# Regenerates the committed stubs from the protos here:
#   aios_service.proto -> aios_service_pb2.py, aios_service_pb2_grpc.py (AIOS's adhoc inference server proto)
#   vdag_service.proto -> vdag_service_pb2.py, vdag_service_pb2_grpc.py (AIOS's vDAG controller proto)
# Needs grpcio-tools (pip install -r python/requirements-dev.txt); PYTHON selects the interpreter:
#   PYTHON=.venv/bin/python bash Tests/clients/gen.sh
set -euo pipefail

PY="${PYTHON:-python3}"
# A relative PYTHON (like .venv/bin/python) is relative to where the script was started, not to this folder.
if [[ "$PY" == */* && "$PY" != /* ]]; then PY="$(pwd)/$PY"; fi
cd "$(dirname "${BASH_SOURCE[0]}")"
"$PY" -c 'import grpc_tools' # fail before deleting anything when grpcio-tools is missing

for name in aios_service vdag_service; do
    rm -f "${name}_pb2.py" "${name}_pb2_grpc.py"
    "$PY" -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. "${name}.proto"
    echo "generated: $(pwd)/${name}_pb2.py $(pwd)/${name}_pb2_grpc.py"
done
