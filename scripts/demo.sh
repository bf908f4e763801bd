#!/usr/bin/env bash
# `make demo`: runs `aios up` on a temporary data directory, onboards the example GPU cluster, the YOLOv5
# component and its block through the AIOS curl scripts and the CLI, shows the result, and stops cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

AIOS=.build/debug/aios
DATA=$(mktemp -d -t aios-demo-XXXXXX)
PID=""

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "aios up --data-dir $DATA"
"$AIOS" up --data-dir "$DATA" --http-port 0 --grpc-port 0 >"$DATA/stdout" 2>"$DATA/aios.log" &
PID=$!
for _ in $(seq 1 300); do
  grep -q '^aios ready: ' "$DATA/stdout" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "aios up exited:"; cat "$DATA/aios.log"; exit 1; }
  sleep 0.1
done
grep -q '^aios ready: ' "$DATA/stdout" || { echo "aios up did not become ready in 30 s:"; cat "$DATA/aios.log"; exit 1; }
URL=$(sed -n 's/^aios ready: //p' "$DATA/stdout")
cat "$DATA/stdout"
export AIOS_SERVER="$URL"
export SERVER_URL="${URL#http://}"

step "curl $URL/healthz"
curl -sS --max-time 5 "$URL/healthz"

step "examples/clusters/create_cluster.sh   (AIOS curl script: createCluster + addNode)"
sh examples/clusters/create_cluster.sh

step "examples/yolov5-block/create_component.sh"
sh examples/yolov5-block/create_component.sh

step "aios apply -f examples/yolov5-block/block.json"
"$AIOS" apply -f examples/yolov5-block/block.json

step "aios get clusters"
"$AIOS" get clusters

step "aios get components"
"$AIOS" get components

step "aios get blocks"
"$AIOS" get blocks

step "aios describe block detector-yolo-88"
"$AIOS" describe block detector-yolo-88

step "a bad spec is refused, naming the field (minInstances > maxInstances)"
echo '{"blockComponentURI": "model.yolov5-detector:1.0.0-stable", "minInstances": 3, "maxInstances": 1}' \
  | "$AIOS" apply -f - || true

step "aios delete block detector-yolo-88"
"$AIOS" delete block detector-yolo-88

step "stopping aios (SIGTERM)"
kill -TERM "$PID"
wait "$PID"
PID=""
echo "aios stopped cleanly; its log:"
sed 's/^/  /' "$DATA/aios.log"
