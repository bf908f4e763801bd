#!/bin/sh
# Onboards the smollm2-chat component: a third_party component whose init program (init.py) deploys
# llama.cpp's server with SmolLM2 and whose instances (../vllm-chat/block.py) proxy chat to it.
# Its process runtime and init program need absolute working directories, which `aios apply -f` fills in by
# itself; with curl, jq puts them in. SERVER_URL is host:port of the aios HTTP API, as in the AIOS scripts.
set -e
cd "$(dirname "$0")"
SERVER_URL=${SERVER_URL:-127.0.0.1:8420}
jq --arg here "$PWD" --arg chat "$(cd ../vllm-chat && pwd)" \
  '.body.spec.values.runtime.cwd = $chat | .body.spec.values.containerRegistryInfo.initContainer.cwd = $here' component.json |
  curl -sS -H "Authorization: Bearer ${AIOS_TOKEN:-}" --fail-with-body --max-time 30 -X POST "http://$SERVER_URL/api/addComponent" \
    -H 'Content-Type: application/json' -d @-
echo
