#!/usr/bin/env bash
h() { docker exec mn-a python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=5).status)" 2>&1 | tail -1; }
chat() { docker exec mn-a python3 -c '
import json,urllib.request
r=urllib.request.Request("http://127.0.0.1:8000/v1/chat/completions",data=json.dumps({"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":4}).encode(),headers={"content-type":"application/json"})
print(urllib.request.urlopen(r,timeout=400).status)' 2>&1 | tail -1; }
docker exec mn-b pkill -9 -f "VLLM::Worker"; t=$SECONDS
sleep 3; echo "worker process killed: health $(h)"
echo "chat after worker death: $(chat) ($((SECONDS-t)) s)"
echo "health then: $(h)"
for i in $(seq 30); do
  if ! docker exec mn-a pgrep -f vllm_cli >/dev/null; then echo "head process exited $((SECONDS-t)) s after the worker died"; break; fi
  sleep 3
done
docker exec mn-a grep -n "Error\|dead\|died\|timeout\|Timeout" /tmp/head.log | tail -5 | cut -c1-220
