#!/usr/bin/env bash
# `make test`: everything CI runs, in three stages. Inside a stage two streams run side by side where
# they want different resources of a 2-core machine: the CPU-bound linters beside the downloads and
# image builds of a bare machine; the system tests (real vLLM) beside Galaxy's check and the
# scenarios without a model (GPU stand-ins, the source-build preparation, mostly waiting on apt and
# docker exec). The heavy vLLM scenarios (default, fleet) run alone, one after the other.
# The second stream's output is kept in build/test-logs/ and printed when the stream ends; every step's
# time goes to build/test-logs/times.txt and is printed at the end, after the end of each failed step's
# output (build/test-logs/STEP.log).
set -euo pipefail
cd "$(dirname "$0")/.."
make=(make --no-print-directory)
logs=build/test-logs
mkdir -p "$logs"
times=$logs/times.txt
: >"$times"
start=$SECONDS

# step NAME MAKE-ARGS...: one make call, timed.
step() {
  local name=$1 t=$SECONDS rc=0
  shift
  echo "=== [$name] started $(date -u +%T)"
  set +e
  "${make[@]}" "$@" 2>&1 | tee "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  printf '%-28s %5d s  rc=%d\n' "$name" $((SECONDS - t)) "$rc" | tee -a "$times"
  return "$rc"
}

# steps STEP...: "name:make,args" in order, stopping at the first failure.
steps() {
  local s args
  for s in "$@"; do
    IFS=, read -r -a args <<<"${s#*:}"
    step "${s%%:*}" "${args[@]}" || return 1
  done
}

# side_by_side "A steps" "B steps": B's steps in the background (output to a log), A's in the foreground.
side_by_side() {
  local a=$1 b=$2 log rc_a=0 rc_b=0 pid
  log=$logs/stream-$(date +%s).log
  # shellcheck disable=SC2086  # word splitting of the step lists is intended
  (steps $b) >"$log" 2>&1 &
  pid=$!
  # shellcheck disable=SC2086
  steps $a || rc_a=$?
  wait "$pid" || rc_b=$?
  echo "=== output of the side stream ($b)"
  cat "$log"
  ((rc_a == 0 && rc_b == 0))
}

scenarios() {  # molecule steps for the named scenarios
  local s
  for s in "$@"; do printf 'molecule-%s:molecule,MOLECULE_SCENARIOS=%s ' "$s" "$s"; done
}

# $MOLECULE_SCENARIOS (the Makefile's list, or the user's choice): those that serve a model run alone.
heavy=() light=()
for s in ${MOLECULE_SCENARIOS:-default fleet cpu_source gpu_driver gpu_toolkit gpu_vllm gpu_site}; do
  case $s in default | fleet) heavy+=("$s") ;; *) light+=("$s") ;; esac
done

rc=0
{
  # Stage 0: what both streams of a stage need (apt, Docker, the dev venv, the vendored collections).
  steps "deps:deps" "venv:venv" "collections:collections" &&
    # Stage 1: linters and unit tests | the test-host image, wheelhouses, model, vLLM image, variants.
    side_by_side "lint:lint sanity:sanity units:units units-oldest:units-oldest" \
      "prereqs:prereqs vllm-image:vllm-image variants:variants" &&
    # Stage 2: system tests (real vLLM) | Galaxy's check and the scenarios that start no model.
    side_by_side "system:system" \
      "galaxy:galaxy $(scenarios "${light[@]}")" &&
    # Stage 3: the scenarios that serve a model, alone.
    # shellcheck disable=SC2046  # one word per step
    steps $(scenarios "${heavy[@]}")
} || rc=$?

# A CI log shows only its end: repeat the end of every failed step's output there.
while read -r name _ _ status; do
  [[ $status == rc=0 ]] && continue
  echo "=== end of the failed step $name's output ($logs/$name.log)"
  tail -n 150 "$logs/$name.log"
done <"$times"
echo "=== make test: rc=$rc, $((SECONDS - start)) s"
cat "$times"
exit "$rc"
