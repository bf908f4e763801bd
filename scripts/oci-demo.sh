#!/usr/bin/env bash
# `make oci-demo`: the seed's container flow for one example, for real, on this machine: a local registry
# (with a password), the base image (built with debootstrap, or reused from the cache), build_and_push_image.sh,
# the registry's credentials registered, create_component_oci.sh and create_block_oci.sh, an inference through
# the gateway, the block removed (no container left), registry down. Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in curl jq podman docker-registry; do
  command -v "$tool" >/dev/null || { echo "make oci-demo needs $tool (apt-get install podman runc docker-registry debootstrap curl jq)"; exit 1; }
done

AIOS=.build/debug/aios
PY=.venv/bin/python
PORT=${OCI_DEMO_REGISTRY_PORT:-5055}
USER_NAME=aios PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
DATA=$(mktemp -d /tmp/aios-oci-demo.XXXXXX)
PID=""
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  scripts/oci/registry.sh down --port "$PORT" >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

step "scripts/oci/engine-flags.sh   (what podman needs on this host)"
scripts/oci/engine-flags.sh

step "scripts/oci/registry.sh up --port $PORT --user $USER_NAME   (Debian's docker-registry, basic auth, plain HTTP on loopback)"
scripts/oci/registry.sh up --port "$PORT" --user "$USER_NAME" --password "$PASSWORD"

step "scripts/oci/base-image.sh   (debootstrap bookworm + python3, imported; cached after the first time)"
scripts/oci/base-image.sh

step "examples/python-wordcount/build_and_push_image.sh"
IMAGE=$(REGISTRY=127.0.0.1:$PORT REGISTRY_USER=$USER_NAME REGISTRY_PASSWORD=$PASSWORD examples/python-wordcount/build_and_push_image.sh | tail -n 1)
echo "pushed $IMAGE"

step "aios up --data-dir $DATA"
"$AIOS" up --data-dir "$DATA" --http-port 0 --grpc-port 0 --python-venv .venv >"$DATA/stdout" 2>"$DATA/aios.log" &
PID=$!
for _ in $(seq 1 300); do
  grep -q '^aios ready: ' "$DATA/stdout" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "aios up exited:"; cat "$DATA/aios.log"; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/^aios ready: //p' "$DATA/stdout")
# aios up wrote its admin token into the data dir: the CLI and the example scripts read $AIOS_TOKEN.
export AIOS_TOKEN=$(cat "$DATA/tokens/admin.token")
GRPC=$(sed -n 's#^aios gateway: grpc://##p' "$DATA/stdout")
[ -n "$URL" ] || { echo "aios up did not become ready:"; cat "$DATA/aios.log"; exit 1; }
grep "OCI engine" "$DATA/aios.log" | sed 's/^/  /'
export SERVER_URL="${URL#http://}"

step "POST /api/registries local-dev   (the password is sealed at rest and never shown)"
curl -sS -H "Authorization: Bearer $AIOS_TOKEN" --fail-with-body --max-time 10 -X POST "$URL/api/registries" -H 'Content-Type: application/json' \
  -d "{\"containerRegistryId\": \"local-dev\", \"url\": \"http://127.0.0.1:$PORT\", \"username\": \"$USER_NAME\", \"password\": \"$PASSWORD\"}" | jq -c .result

step "examples/python-wordcount/create_component_oci.sh + create_block_oci.sh"
IMAGE="$IMAGE" sh examples/python-wordcount/create_component_oci.sh
sh examples/python-wordcount/create_block_oci.sh
for _ in $(seq 1 600); do
  phase=$(curl -sS -H "Authorization: Bearer $AIOS_TOKEN" --max-time 5 "$URL/api/blocks/wordcount-oci-1" | jq -r .phase)
  [ "$phase" = "Ready" ] && break
  [ "$phase" = "Failed" ] && { "$AIOS" describe block wordcount-oci-1 --server "$URL"; exit 1; }
  sleep 0.2
done
[ "$phase" = "Ready" ] || { echo "wordcount-oci-1 is not Ready after 120 s"; "$AIOS" describe block wordcount-oci-1 --server "$URL"; exit 1; }
curl -sS -H "Authorization: Bearer $AIOS_TOKEN" --max-time 5 "$URL/api/blocks/wordcount-oci-1" | jq -r '.events[] | select(.type | startswith("ImagePull")) | "  \(.type): \(.message)"'
podman ps --filter label=aios.block=wordcount-oci-1 --format '  container {{.Names}}  {{.Image}}  {{.Status}}'

step "infer through the gateway: gRPC BlockInferenceService/infer with the AIOS tutorial's client"
"$PY" Tests/clients/tutorial_client.py "$GRPC" wordcount-oci-1 --data '{"text": "the quick brown fox jumps over the lazy dog the end"}' --session demo

step "aios delete block wordcount-oci-1   (its container stops and is removed)"
"$AIOS" delete block wordcount-oci-1 --server "$URL"
left=$(podman ps --all --filter label=aios.block=wordcount-oci-1 --format '{{.Names}}' | wc -l)
echo "containers left: $left"
[ "$left" -eq 0 ]

step "stopping aios, registry down"
kill -TERM "$PID"; wait "$PID" || true; PID=""
scripts/oci/registry.sh down --port "$PORT"
echo "oci-demo: every step succeeded"
