#!/usr/bin/env bash
# The CPU path's converge cost before and after a change, same machine, same run:
#   for each tree (BEFORE = a git ref, default the commit before the instance-model round; AFTER =
#   this checkout): a fresh local systemd test host, the first converge of site.yml (bare host ->
#   healthy vLLM), then a no-op re-run of site.yml (wall time and the tasks it executed, recap ok +
#   skipped) and of probe.yml (what a second `make demo` adds).
# Needs `make prereqs` first. Prints Markdown table rows.
#   benchmarks/noop_compare.sh [BEFORE_REF]
set -euo pipefail
cd "$(dirname "$0")/.."
after=$PWD
before_ref=${1:-f60de5c}
export PATH="$after/.venv/bin:$PATH"
: "${LLMOPS_WHEELHOUSE:=$HOME/.cache/llmops-vllm/wheelhouse-cpu-cp311}" "${LLMOPS_MODEL_DIR:=$after/build/models/tiny-qwen2}"
export LLMOPS_WHEELHOUSE LLMOPS_MODEL_DIR
work=$(mktemp -d)
cleanup() {
  docker rm -f llmops-bench-before llmops-bench-after >/dev/null 2>&1 || true
  git -C "$after" worktree remove --force "$work/before" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The BEFORE tree, with the same vendored collections and itself as llmops.vllm.
git -C "$after" worktree add -q --detach "$work/before" "$before_ref"
mkdir -p "$work/before/build/collections/ansible_collections/llmops"
for c in "$after"/build/collections/ansible_collections/*; do
  [ "$(basename "$c")" = llmops ] || ln -s "$c" "$work/before/build/collections/ansible_collections/"
done
ln -s ../../../.. "$work/before/build/collections/ansible_collections/llmops/vllm"

secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
tasks() { awk '/ok=/{for(i=1;i<=NF;i++){split($i,kv,"="); if(kv[1]=="ok"||kv[1]=="skipped") n+=kv[2]}} END{print n}' "$1"; }

measure() {  # label tree port (published on loopback, as make demo does)
  local label=$1 tree=$2 port=$3 name=llmops-bench-$1 inv=$work/$1 t0 t1 t2 t3
  mkdir -p "$inv/group_vars"
  cp "$tree"/inventories/demo/group_vars/*.yml "$inv/group_vars/"
  printf 'all:\n  children:\n    cpu_hosts:\n      hosts:\n        %s:\n          ansible_connection: community.docker.docker\n' "$name" >"$inv/hosts.yml"
  "$after/tools/run-test-host.sh" "$name" -v "$LLMOPS_WHEELHOUSE:/opt/wheelhouse:ro" -p "127.0.0.1:$port:8000" >/dev/null
  export ANSIBLE_CONFIG=$tree/ansible.cfg
  t0=$(date +%s.%N)
  (cd "$tree" && ansible-playbook -i "$inv/hosts.yml" site.yml >"$inv/first.log" 2>&1) || { tail -30 "$inv/first.log"; exit 1; }
  t1=$(date +%s.%N)
  (cd "$tree" && ansible-playbook -i "$inv/hosts.yml" site.yml >"$inv/noop.log" 2>&1) || { tail -30 "$inv/noop.log"; exit 1; }
  t2=$(date +%s.%N)
  (cd "$tree" && ansible-playbook -i "$inv/hosts.yml" playbooks/probe.yml -e probe_hosts=cpu_hosts \
     -e "probe_url=http://127.0.0.1:$port" >"$inv/probe.log" 2>&1) \
     || { tail -30 "$inv/probe.log"; exit 1; }
  t3=$(date +%s.%N)
  grep -q 'changed=0 ' "$inv/noop.log" || { echo "$label: the second converge was not a no-op"; tail -5 "$inv/noop.log"; exit 1; }
  printf '| %s | %s | %s s | %s s | %s | %s s |\n' "$label ($(git -C "$tree" rev-parse --short HEAD))" \
    "$(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" \
    "$(tasks "$inv/noop.log")" "$(secs "$t1" "$t3")"
  docker rm -f "$name" >/dev/null
}

echo "| tree | when, machine | first converge | no-op site.yml | no-op tasks (ok+skipped) | no-op site.yml + probe.yml |"
echo "| --- | --- | --- | --- | --- | --- |"
measure before "$work/before" 18201
measure after "$after" 18202
