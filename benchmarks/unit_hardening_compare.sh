#!/usr/bin/env bash
# The vLLM unit's hardening, before and after, on ONE test host in the same run:
#   A = the unit this checkout renders (site.yml converge), B = the same unit with its hardening
#   block replaced by the one of BEFORE_REF's template (default main; everything else identical).
#   Rounds of A, B (default 2): install the unit, daemon-reload, restart, wait for /health, then
#   `systemd-analyze security` and a small benchmark (playbooks/benchmark.yml, from the host).
# Needs `make prereqs` first. Prints Markdown table rows. LLMOPS_AB_HOST=<name> reuses a test host
# already converged from this checkout (published on 127.0.0.1:LLMOPS_AB_PORT) and keeps it.
#   benchmarks/unit_hardening_compare.sh [BEFORE_REF] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$PWD
before_ref=${1:-main}
rounds=${2:-2}
export PATH="$tree/.venv/bin:$PATH" ANSIBLE_CONFIG=$tree/ansible.cfg
: "${LLMOPS_WHEELHOUSE:=$HOME/.cache/llmops-vllm/wheelhouse-cpu-cp311}" "${LLMOPS_MODEL_DIR:=$tree/build/models/tiny-qwen2}"
export LLMOPS_WHEELHOUSE LLMOPS_MODEL_DIR
name=${LLMOPS_AB_HOST:-llmops-bench-hardening}
port=${LLMOPS_AB_PORT:-18203}
work=$(mktemp -d)
cleanup() {
  [ -n "${LLMOPS_AB_HOST:-}" ] || docker rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/inv/group_vars"
cp inventories/demo/group_vars/*.yml "$work/inv/group_vars/"
printf 'all:\n  children:\n    cpu_hosts:\n      hosts:\n        %s:\n          ansible_connection: community.docker.docker\n' "$name" >"$work/inv/hosts.yml"
if [ -z "${LLMOPS_AB_HOST:-}" ]; then
  tools/run-test-host.sh "$name" -v "$LLMOPS_WHEELHOUSE:/opt/wheelhouse:ro" -p "127.0.0.1:$port:8000" >/dev/null
  ansible-playbook -i "$work/inv/hosts.yml" site.yml >"$work/converge.log" 2>&1 || { tail -30 "$work/converge.log"; exit 1; }
fi

# A: as rendered. B: A's lines before "# Hardening" + BEFORE_REF's hardening block + A's [Install] on.
unit=/etc/systemd/system/vllm.service
docker exec "$name" cat "$unit" >"$work/A.service"
git show "$before_ref:roles/vllm_service/templates/vllm.service.j2" \
  | awk '/^# Hardening/{on=1} /^\{% if vllm_service__instance.device/{on=0} on' >"$work/old-hardening"
[ -s "$work/old-hardening" ] || { echo "no hardening block in $before_ref's template"; exit 1; }
{ sed -n '/^# Hardening/q;p' "$work/A.service"; cat "$work/old-hardening"; sed -n '/^\[Install\]/,$p' "$work/A.service"; } >"$work/B.service"
# LLMOPS_AB_DROP=<regex>: a third unit C, A without the directive lines that match (to find which one costs).
drop=${LLMOPS_AB_DROP:-}
[ -z "$drop" ] || grep -vE "^($drop)=" "$work/A.service" >"$work/C.service"

measure() {  # label unit-file
  local label=$1 t0 s score tps
  docker cp "$2" "$name:$unit"
  docker exec "$name" sh -c 'systemctl daemon-reload && systemctl reset-failed vllm; systemctl restart vllm'
  t0=$(date +%s)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ]; do
    [ $(( $(date +%s) - t0 )) -lt 600 ] || { echo "$label: not healthy after 600 s"; docker exec "$name" journalctl -u vllm -n 30 --no-pager; exit 1; }
    sleep 2
  done
  s=$(( $(date +%s) - t0 ))
  score=$(docker exec "$name" systemd-analyze security --no-pager vllm.service | sed -n 's/.*Overall exposure level for vllm.service: \([0-9.]*\).*/\1/p')
  ansible-playbook -i "$work/inv/hosts.yml" playbooks/benchmark.yml -e benchmark_chart=false \
    -e benchmark_num_requests=24 -e benchmark_concurrency=2 -e benchmark_input_len=64 -e benchmark_output_len=32 \
    -e benchmark_num_warmups=2 -e "benchmark_artifacts_dir=$work/bench-$label" >"$work/bench.log" 2>&1 \
    || { tail -30 "$work/bench.log"; exit 1; }
  tps=$(python3 -c 'import json,sys
def find(o):
    if isinstance(o, dict):
        if "output_throughput" in o: return o["output_throughput"]
        o = list(o.values())
    if isinstance(o, list):
        for v in o:
            r = find(v)
            if r is not None: return r
print("%.1f" % find(json.load(open(sys.argv[1]))))' "$work/bench-$label/benchmark.json")
  printf '| %s | %s | %s | %s s | %s |\n' "$label" "$(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)" \
    "$score" "$s" "$tps"
  echo "$label $tps" >>"$work/tps"
}

echo "| unit | when, machine | systemd-analyze security | start to healthy | output tok/s |"
echo "| --- | --- | --- | --- | --- |"
for r in $(seq 1 "$rounds"); do
  [ "${LLMOPS_AB_ONLY_C:-}" = 1 ] || measure "A-hardened-$r" "$work/A.service"
  measure "B-$before_ref-$r" "$work/B.service"
  [ -z "$drop" ] || measure "C-without-$r" "$work/C.service"
done
awk '{k=substr($1,1,1); n[k]++; s[k]+=$2} END{printf "\nmean output tok/s:"; for (k in n) printf " %s %.1f", k, s[k]/n[k];
  if (n["A"] && n["B"]) printf "; ratio A (hardened) / B (before) %.3f", (s["A"]/n["A"])/(s["B"]/n["B"]); print ""}' "$work/tps"
# Leave the host as converged (A).
docker cp "$work/A.service" "$name:$unit"
docker exec "$name" sh -c 'systemctl daemon-reload && systemctl restart vllm'
