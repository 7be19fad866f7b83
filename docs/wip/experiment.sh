#!/usr/bin/env bash
# Does vLLM CPU 0.32 serve one model across two hosts (--nnodes 2, TP=2, a headless worker)?
set -uo pipefail
cd /work/main
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_CONFIG=$PWD/ansible.cfg
WH=~/.cache/llmops-vllm/wheelhouse-cpu-cp311
docker network create mn-net >/dev/null 2>&1 || true
tools/run-test-host.sh mn-a --hostname mn-a --network mn-net --cpuset-cpus 0 -v $WH:/opt/wheelhouse:ro -v $PWD/build/models/tiny-qwen2:/models/tiny:ro
tools/run-test-host.sh mn-b --hostname mn-b --network mn-net --cpuset-cpus 1 -v $WH:/opt/wheelhouse:ro -v $PWD/build/models/tiny-qwen2:/models/tiny:ro
time ansible-playbook -i /tmp/mn/inventory.yml tests/system/playbooks/install_vllm.yml > /tmp/mn/install.log 2>&1 || { tail -30 /tmp/mn/install.log; exit 1; }
A=$(docker inspect -f '{{(index .NetworkSettings.Networks "mn-net").IPAddress}}' mn-a)
B=$(docker inspect -f '{{(index .NetworkSettings.Networks "mn-net").IPAddress}}' mn-b)
echo "A=$A B=$B"
common="/opt/vllm/venv/bin/vllm serve /models/tiny --served-model-name tiny --max-model-len 512 --enforce-eager --tensor-parallel-size 2 --nnodes 2 --master-addr $A --master-port 29501"
envs="VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_OMP_THREADS_BIND=0 GLOO_SOCKET_IFNAME=eth0 HOME=/tmp"
docker exec -d mn-b sh -c "env $envs VLLM_HOST_IP=$B $common --node-rank 1 --headless > /tmp/worker.log 2>&1"
docker exec -d mn-a sh -c "env $envs VLLM_HOST_IP=$A $common --node-rank 0 --port 8000 > /tmp/head.log 2>&1"
for i in $(seq 120); do
  if docker exec mn-a python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)" 2>/dev/null; then echo "healthy after $((i*5)) s"; break; fi
  sleep 5
done
docker exec mn-a python3 -c '
import json,urllib.request
r=urllib.request.Request("http://127.0.0.1:8000/v1/chat/completions",data=json.dumps({"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":8}).encode(),headers={"content-type":"application/json"})
print(urllib.request.urlopen(r,timeout=120).read()[:400])'
echo "--- head log"; docker exec mn-a tail -25 /tmp/head.log
echo "--- worker log"; docker exec mn-b tail -25 /tmp/worker.log
