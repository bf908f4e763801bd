#!/bin/sh
# Creates the text-pipeline vDAG (AIOS: create_vdag.sh): swift-echo-1 upper-cases, then a wordcount block counts.
# Needs the blocks of examples/swift-echo and examples/python-wordcount. SERVER_URL is host:port of the aios HTTP API.
set -e
cd "$(dirname "$0")"
SERVER_URL=${SERVER_URL:-127.0.0.1:8420}
curl -sS -H "Authorization: Bearer ${AIOS_TOKEN:-}" --fail-with-body --max-time 30 -X POST "http://$SERVER_URL/api/createvDAG" \
  -H 'Content-Type: application/json' -d @vdag.json
echo
