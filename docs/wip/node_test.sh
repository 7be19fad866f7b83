#!/usr/bin/env bash
set -uo pipefail
cd /work/main
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_CONFIG=$PWD/ansible.cfg
WH=~/.cache/llmops-vllm/wheelhouse-cpu-cp311
docker network create mn-net >/dev/null 2>&1 || true
tools/run-test-host.sh mn-a --hostname mn-a --network mn-net --cpuset-cpus 0 -v $WH:/opt/wheelhouse:ro -v $PWD/build/models/tiny-qwen2:/models/tiny:ro
tools/run-test-host.sh mn-b --hostname mn-b --network mn-net --cpuset-cpus 1 -v $WH:/opt/wheelhouse:ro -v $PWD/build/models/tiny-qwen2:/models/tiny:ro
ansible-playbook -i /tmp/mn/inventory.yml tests/system/playbooks/install_vllm.yml > /tmp/mn/install.log 2>&1 || { tail -30 /tmp/mn/install.log; exit 1; }
A=$(docker inspect -f '{{(index .NetworkSettings.Networks "mn-net").IPAddress}}' mn-a)
B=$(docker inspect -f '{{(index .NetworkSettings.Networks "mn-net").IPAddress}}' mn-b)
for h in mn-a mn-b; do docker cp roles/vllm_service/files/vllm_node.py $h:/tmp/vllm_node.py; done
args="serve /models/tiny --served-model-name tiny --max-model-len 512 --enforce-eager --tensor-parallel-size 2 --nnodes 2 --master-addr $A --master-port 29501"
envs="VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_OMP_THREADS_BIND=0 GLOO_SOCKET_IFNAME=eth0 HOME=/tmp"
start_worker() { docker exec -d mn-b sh -c "env $envs VLLM_HOST_IP=$B /opt/vllm/venv/bin/python /tmp/vllm_node.py --follow $A:29501 -- $args --node-rank 1 --headless > /tmp/worker.log 2>&1; echo exit=\$? >> /tmp/worker.log"; }
start_head() { docker exec -d mn-a sh -c "env $envs VLLM_HOST_IP=$A /opt/vllm/venv/bin/python /tmp/vllm_node.py -- $args --node-rank 0 --port 8000 > /tmp/head.log 2>&1"; }
healthy() { local t=$SECONDS; for i in $(seq 60); do docker exec mn-a python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)" 2>/dev/null && { echo "healthy after $((SECONDS-t)) s"; return 0; }; sleep 4; done; echo "not healthy"; return 1; }
chat() { docker exec mn-a python3 -c '
import json,urllib.request
r=urllib.request.Request("http://127.0.0.1:8000/v1/chat/completions",data=json.dumps({"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":4}).encode(),headers={"content-type":"application/json"})
print("chat", urllib.request.urlopen(r,timeout=120).status)' 2>&1 | tail -1; }
start_worker; start_head; healthy && chat
echo "--- kill the head"; docker exec mn-a pkill -9 -f "vllm_node|VLLM::|EngineCore"; t=$SECONDS
for i in $(seq 20); do
  if docker exec mn-b grep -q "^exit=" /tmp/worker.log; then echo "worker exited $((SECONDS-t)) s after the head died: $(docker exec mn-b grep '^exit=' /tmp/worker.log)"; break; fi
  sleep 2
done
docker exec mn-b ps -eo args | grep -c "VLLM::Worker" | sed 's/^/worker processes left: /'
docker exec mn-b grep "vllm_node:" /tmp/worker.log
echo "--- restart both (what systemd would do)"; start_worker; start_head; healthy && chat
