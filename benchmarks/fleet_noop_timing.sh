#!/usr/bin/env bash
# No-op re-run of site.yml on 1 host vs the 3-host fleet (Molecule scenario `fleet`, converged first:
#   molecule converge -s fleet). Each is run RUNS times (default 3); prints one Markdown table row
# with the median of each and the ratio. Every run must report changed=0 on every host.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
: "${LLMOPS_MODEL_DIR:=$PWD/build/models/tiny-qwen2}"
export LLMOPS_MODEL_DIR
# Molecule keeps the scenario's inventory in its ephemeral directory (the newest fleet one).
inv=${MOLECULE_INVENTORY_FILE:-$(ls -td "$HOME"/.ansible/tmp/molecule.*.fleet 2>/dev/null | head -1)/inventory/ansible_inventory.yml}
[ -f "$inv" ] || { echo "no fleet inventory at $inv: run 'molecule converge -s fleet' first" >&2; exit 1; }
runs=${RUNS:-3}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

time_run() {  # prints seconds; fails unless every host's recap says changed=0
  local t0 t1
  t0=$(date +%s.%N)
  ansible-playbook -i "$inv" site.yml "$@" >"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
  t1=$(date +%s.%N)
  if grep -E '^fleet-[0-9]+ +: ' "$log" | grep -vq 'changed=0'; then
    grep -E '^fleet-[0-9]+ +: ' "$log" >&2; echo "not a no-op" >&2; exit 1
  fi
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f\n", b-a}'
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

one=$(for _ in $(seq "$runs"); do time_run --limit fleet-2; done | median)
three=$(for _ in $(seq "$runs"); do time_run; done | median)
printf '| %s | %s | %s s | %s s | %.2f |\n' "$(date -u +%F)" \
  "$(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB" "$one" "$three" "$(awk -v a="$one" -v b="$three" 'BEGIN{print b/a}')"
