#!/bin/sh
# Onboards the Swift echo component. Its process runtime needs an absolute working directory, which
# `aios apply -f component.json` fills in by itself; with curl, jq puts this directory in.
# SERVER_URL is host:port of the aios HTTP API, as in the AIOS scripts.
set -e
cd "$(dirname "$0")"
SERVER_URL=${SERVER_URL:-127.0.0.1:8420}
jq --arg cwd "$PWD" '.body.spec.values.runtime.cwd = $cwd' component.json |
  curl -sS -H "Authorization: Bearer ${AIOS_TOKEN:-}" --fail-with-body --max-time 30 -X POST "http://$SERVER_URL/api/addComponent" \
    -H 'Content-Type: application/json' -d @-
echo
