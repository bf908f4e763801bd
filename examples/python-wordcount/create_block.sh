#!/bin/sh
# Creates this example's block from its component (AIOS: create_block.sh).
# SERVER_URL is host:port of the aios HTTP API, as in the AIOS scripts.
set -e
cd "$(dirname "$0")"
SERVER_URL=${SERVER_URL:-127.0.0.1:8420}
curl -sS -H "Authorization: Bearer ${AIOS_TOKEN:-}" --fail-with-body --max-time 30 -X POST "http://$SERVER_URL/api/createBlock" \
  -H 'Content-Type: application/json' -d @block.json
echo
