#!/bin/sh
# Creates a controller serving the text-pipeline vDAG (AIOS: create_controller.sh): vDAGInferenceService/infer on
# a port of its own (CONTROLLER_PORT, default a free one) and POST /v1/vdags/text-pipeline-ctl/infer.
set -e
SERVER_URL=${SERVER_URL:-127.0.0.1:8420}
CLUSTER_ID=${CLUSTER_ID:-local}
PORT=${CONTROLLER_PORT:-0}
curl -sS -H "Authorization: Bearer ${AIOS_TOKEN:-}" --fail-with-body --max-time 30 -X POST "http://$SERVER_URL/vdag-controller/$CLUSTER_ID" \
  -H 'Content-Type: application/json' \
  -d "{\"action\": \"create_controller\", \"payload\": {\"vdag_controller_id\": \"text-pipeline-ctl\", \"vdag_uri\": \"text-pipeline:0.0.1-stable\", \"config\": {\"port\": $PORT}}}"
echo
