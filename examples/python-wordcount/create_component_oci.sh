#!/bin/sh
# Onboards the wordcount component as an OCI image (component-oci.json: no "runtime", a
# containerRegistryInfo.containerImage instead). Push the image first: ./build_and_push_image.sh.
# IMAGE overrides the image reference (e.g. IMAGE=$(./build_and_push_image.sh | tail -n 1) ./create_component_oci.sh).
# SERVER_URL is host:port of the aios HTTP API, as in the AIOS scripts.
set -e
cd "$(dirname "$0")"
SERVER_URL=${SERVER_URL:-127.0.0.1:8420}
jq --arg image "${IMAGE:-}" \
  'if $image != "" then .body.spec.values.containerRegistryInfo.containerImage = $image else . end' component-oci.json |
  curl -sS -H "Authorization: Bearer ${AIOS_TOKEN:-}" --fail-with-body --max-time 30 -X POST "http://$SERVER_URL/api/addComponent" \
    -H 'Content-Type: application/json' -d @-
echo
