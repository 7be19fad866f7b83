#!/usr/bin/env bash
# `make demo`: a disposable local systemd container host -> site.yml (CPU path) -> a chat answer.
# The endpoint stays up at http://127.0.0.1:${DEMO_PORT:-8000}; `make demo-clean` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
name=llmops-vllm-demo
port=${DEMO_PORT:-8000}

if [ "${1:-}" = clean ]; then
  docker rm -f "$name" >/dev/null 2>&1 && echo "removed $name" || echo "no $name to remove"
  exit 0
fi

if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
  echo "starting the demo host $name ..."
  # The wheelhouse read-only; the API published on loopback only.
  tools/run-test-host.sh "$name" --hostname vllm-demo \
    -v "$LLMOPS_WHEELHOUSE:/opt/wheelhouse:ro" -p "127.0.0.1:$port:8000"
fi

extra=()
# A real model when the hub answers (DEMO_MODEL overrides); the tiny local model otherwise.
model=${DEMO_MODEL:-}
if [ -z "$model" ] && curl -sf -o /dev/null --max-time 5 https://huggingface.co/api/models/Qwen/Qwen2.5-1.5B-Instruct; then
  model=Qwen/Qwen2.5-1.5B-Instruct
fi
if [ -n "$model" ]; then
  extra+=(-e "vllm_service_model=$model" -e "vllm_service_model_src=" -e "vllm_service_served_model_name=$model")
  echo "serving $model from the hub"
else
  echo "no model hub reachable: serving the tiny local test model ($LLMOPS_MODEL_DIR)"
fi

ansible-playbook -i inventories/demo site.yml "${extra[@]}"
ansible-playbook -i inventories/demo playbooks/probe.yml -e "probe_url=http://127.0.0.1:$port"
echo "vLLM is serving at http://127.0.0.1:$port/v1 (make demo-clean removes it)"
