#!/usr/bin/env bash
# Converge timings of the CPU path on a fresh local systemd test host:
#   1. first converge of site.yml (bare host -> healthy vLLM), 2. the no-op re-run,
#   3. unit start -> healthy, read from the journal (unit start vs "Application startup complete").
# Needs `make prereqs` first. Prints one Markdown table row per run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
: "${LLMOPS_WHEELHOUSE:=$HOME/.cache/llmops-vllm/wheelhouse-cpu-cp311}" "${LLMOPS_MODEL_DIR:=$PWD/build/models/tiny-qwen2}"
export LLMOPS_WHEELHOUSE LLMOPS_MODEL_DIR
name=llmops-bench-cpu
inv=$(mktemp -d)
trap 'docker rm -f "$name" >/dev/null 2>&1; rm -rf "$inv"' EXIT

tools/run-test-host.sh "$name" -v "$LLMOPS_WHEELHOUSE:/opt/wheelhouse:ro"
mkdir -p "$inv/group_vars"
cp inventories/demo/group_vars/*.yml "$inv/group_vars/"
printf 'all:\n  children:\n    cpu_hosts:\n      hosts:\n        %s:\n          ansible_connection: community.docker.docker\n' "$name" >"$inv/hosts.yml"

run() { local t0 t1; t0=$(date +%s.%N); ansible-playbook -i "$inv/hosts.yml" site.yml >"$inv/$1.log" 2>&1 || { tail -40 "$inv/$1.log"; exit 1; }; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}'; }
first=$(run first)
noop=$(run noop)
grep -q 'changed=0' "$inv/noop.log" || { echo "second converge was not a no-op:"; tail -5 "$inv/noop.log"; exit 1; }
start=$(docker exec "$name" systemctl show -p ExecMainStartTimestamp --value vllm)
start_s=$(docker exec "$name" date -d "$start" +%s)
ready_s=$(docker exec "$name" journalctl -u vllm -o short-unix --no-pager | grep -m1 'Application startup complete' | cut -d. -f1)
printf '| %s | %s | %.0f s | %.1f s | %d s |\n' "$(date -u +%F)" "$(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB" "$first" "$noop" "$((ready_s - start_s))"
