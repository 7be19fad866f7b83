#!/usr/bin/env bash
# Router overhead: output tok/s through the front door (nginx TLS + client key -> vllm-router -> vLLM)
# divided by output tok/s straight to the same vLLM server, in the same run. site.yml deploys the
# server (cpu_hosts) and the router with its door (vllm_routers) on local test hosts; the load
# (llmops.vllm.openai_benchmark) always comes from the router host, so both arms pay the same client
# cost. RUNS rounds alternate which arm goes first; the summary gives the mean, the median and the
# ratio of the summed tok/s.
#
# TOPOLOGY=split (default): the fleet's shape on one machine. Two hosts, each on its own core
#   (docker --cpuset-cpus): the server on core 0 (vLLM's threads bound to it), the router host with
#   the door and the client on core 1. Direct arm: router host -> http://<server>:8000.
# TOPOLOGY=same: one host runs the server, the router, the door and the client, all on every core:
#   the door's CPU comes out of vLLM's.
#
#   benchmarks/door_overhead.sh                        # 64 requests of 64 -> 256 tokens, concurrency 4
#   RUNS=12 POLICY=round_robin TOPOLOGY=same benchmarks/door_overhead.sh
#   KEEP=1 ...                                         # leave the hosts running
#   OUT=artifacts/door-overhead-<stamp> REUSE=1 RUNS=6 benchmarks/door_overhead.sh
#                                                      # more rounds on hosts left running by KEEP=1
# Nothing else should run on the machine meanwhile: other load shows up as noise in the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH" ANSIBLE_CONFIG="$root/ansible.cfg"
: "${LLMOPS_WHEELHOUSE:=$HOME/.cache/llmops-vllm/wheelhouse-cpu-cp311}"
: "${LLMOPS_ROUTER_WHEELHOUSE:=$HOME/.cache/llmops-vllm/wheelhouse-router-cp311}"
: "${LLMOPS_MODEL_DIR:=$root/build/models/tiny-qwen2}"
export LLMOPS_WHEELHOUSE LLMOPS_ROUTER_WHEELHOUSE LLMOPS_MODEL_DIR

INPUT_LEN=${INPUT_LEN:-64}
OUTPUT_LEN=${OUTPUT_LEN:-256}
NUM_PROMPTS=${NUM_PROMPTS:-64}
CONCURRENCY=${CONCURRENCY:-4}
RUNS=${RUNS:-3}
POLICY=${POLICY:-cache_aware}
TOPOLOGY=${TOPOLOGY:-split}
KEY=door-bench-client-key-0001   # a test key, not a secret
TAG=$(date -u +%H%M%S)-
OUT=${OUT:-$root/artifacts/door-overhead-$(date -u +%Y%m%dT%H%M%SZ)}
NET=llmops-bench-door
mkdir -p "$OUT/inventory/host_vars"

if [ -n "${REUSE:-}" ]; then
  [ -f "$OUT/settings" ] || { echo "REUSE=1 needs OUT= of an earlier KEEP=1 run" >&2; exit 2; }
  . "$OUT/settings"   # TOPOLOGY, POLICY, SERVER, ROUTER of that run
  KEEP=1
else
  case $TOPOLOGY in
    split) SERVER=llmops-bench-server ROUTER=llmops-bench-router ;;
    same) SERVER=llmops-bench-door ROUTER=llmops-bench-door ;;
    *) echo "TOPOLOGY must be split or same" >&2; exit 2 ;;
  esac
  printf 'TOPOLOGY=%s\nPOLICY=%s\nSERVER=%s\nROUTER=%s\n' "$TOPOLOGY" "$POLICY" "$SERVER" "$ROUTER" >"$OUT/settings"

  # The hosts: the demo's settings (group_vars of inventories/demo) for the server; the router and
  # its door with the fleet scenario's settings; the door's certificate from a private CA made here.
  ln -sfn "$root/inventories/demo/group_vars" "$OUT/inventory/group_vars"
  python3 -c "import sys; sys.path.insert(0, 'tests/fixtures'); from standin_hub import make_tls_files; make_tls_files(sys.argv[1])" "$OUT"
  cat >"$OUT/inventory/hosts.yml" <<YAML
all:
  hosts:
    bench-server: {ansible_connection: community.docker.docker, ansible_host: $SERVER}
    bench-router: {ansible_connection: community.docker.docker, ansible_host: $ROUTER}
  children:
    cpu_hosts: {hosts: {bench-server: {}}}
    vllm_routers: {hosts: {bench-router: {}}}
YAML
  if [ "$TOPOLOGY" = split ]; then bind='"0"' advertise=$SERVER; else bind=auto advertise=127.0.0.1; fi
  cat >"$OUT/inventory/host_vars/bench-server.yml" <<YAML
vllm_service_extra_args: ["--max-model-len", "512", "--enforce-eager", "--no-enable-prefix-caching"]
vllm_service_cpu_omp_threads_bind: $bind
vllm_service_advertise_address: $advertise   # where the router reaches it
YAML
  cat >"$OUT/inventory/host_vars/bench-router.yml" <<YAML
uv_python_version: "3.11"
uv_python_preference: only-system
uv_python_find_links: /opt/wheelhouse
uv_python_offline: true
vllm_router_find_links: [/opt/router-wheelhouse]
vllm_router_offline: true
vllm_router_api_keys: [$KEY]
vllm_router_policy: $POLICY
vllm_router_tls_cert_src: $OUT/server.pem
vllm_router_tls_key_src: $OUT/server.key
YAML

  mounts=(-v "$LLMOPS_WHEELHOUSE:/opt/wheelhouse:ro" -v "$LLMOPS_ROUTER_WHEELHOUSE:/opt/router-wheelhouse:ro")
  if [ "$TOPOLOGY" = split ]; then
    docker network inspect "$NET" >/dev/null 2>&1 || docker network create "$NET" >/dev/null
    tools/run-test-host.sh "$SERVER" --hostname bench-server --network "$NET" --cpuset-cpus 0 "${mounts[@]}"
    tools/run-test-host.sh "$ROUTER" --hostname bench-router --network "$NET" --cpuset-cpus 1 "${mounts[@]}"
  else
    tools/run-test-host.sh "$SERVER" --hostname bench-door "${mounts[@]}"
  fi
  docker cp "$OUT/ca.pem" "$ROUTER:/etc/ssl/door-ca.pem"
fi
trap '[ -n "${KEEP:-}" ] || docker rm -f $SERVER $ROUTER >/dev/null 2>&1' EXIT

if [ -z "${REUSE:-}" ]; then
  echo "door_overhead: deploying the server ($SERVER) and the router + door ($ROUTER), policy $POLICY ..."
  ansible-playbook -i "$OUT/inventory" site.yml -e vllm_rolling_serial=100% >"$OUT/converge.log" 2>&1 \
    || { echo "converge failed, see $OUT/converge.log" >&2; tail -30 "$OUT/converge.log" >&2; exit 1; }
fi
direct_url=http://$([ "$TOPOLOGY" = split ] && echo "$SERVER" || echo 127.0.0.1):8000
echo "door_overhead ($TOPOLOGY, policy $POLICY): $RUNS rounds of $NUM_PROMPTS requests ($INPUT_LEN in," \
  "$OUTPUT_LEN out, concurrency $CONCURRENCY) from the router host: door https://127.0.0.1:8443 vs direct $direct_url"

# One arm: openai_benchmark on the router host against URL; its result JSON to $OUT/<tag><run>-<arm>.json.
arm() {
  local run=$1 name=$2 url=$3 key=$4 seed=$5
  ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_STDOUT_CALLBACK=ansible.posix.json \
    ansible -i "$OUT/inventory" bench-router -m llmops.vllm.openai_benchmark -a "$(python3 -c '
import json, sys
url, key, seed, n, c, i, o = sys.argv[1:8]
args = {"url": url, "model": "tiny", "num_requests": int(n), "concurrency": int(c), "input_len": int(i),
        "output_len": int(o), "ignore_eos": True, "seed": int(seed), "timeout": 600}
if key:
    args.update(api_key=key, ca_path="/etc/ssl/door-ca.pem")
print(json.dumps(args))' "$url" "$key" "$seed" "$NUM_PROMPTS" "$CONCURRENCY" "$INPUT_LEN" "$OUTPUT_LEN")" \
    >"$OUT/$TAG$run-$name.json"
}
seed=$(( $(date +%s) % 100000 * 1000 ))
for run in $(seq 1 "$RUNS"); do
  if (( run % 2 )); then order=(door direct); else order=(direct door); fi
  for name in "${order[@]}"; do
    seed=$(( seed + NUM_PROMPTS + 1 ))   # never the same prompts twice (no cache can flatter an arm)
    if [ "$name" = door ]; then arm "$run" door https://127.0.0.1:8443 "$KEY" "$seed"
    else arm "$run" direct "$direct_url" "" "$seed"; fi
  done
done

python3 - "$OUT" "$RUNS" "$TAG" <<'PY'
import json, statistics, sys
out, runs, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def tok_s(path):
    data = json.load(open(path))
    result = next(iter(data["plays"][0]["tasks"][0]["hosts"].values()))
    assert not result.get("failed") and not result.get("errors"), (path, result.get("msg"), result.get("errors"))
    return result["output_throughput"]
ratios, doors, directs = [], [], []
for run in range(1, runs + 1):
    door, direct = tok_s("%s/%s%d-door.json" % (out, tag, run)), tok_s("%s/%s%d-direct.json" % (out, tag, run))
    doors.append(door); directs.append(direct); ratios.append(door / direct)
    print("round %d: door %.1f tok/s, direct %.1f tok/s, door/direct %.3f" % (run, door, direct, ratios[-1]))
print("door/direct over %d rounds: mean %.3f, median %.3f, summed tok/s %.3f (min %.3f, max %.3f)"
      % (runs, statistics.mean(ratios), statistics.median(ratios), sum(doors) / sum(directs), min(ratios), max(ratios)))
PY
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg); nproc $(nproc); results in $OUT"
