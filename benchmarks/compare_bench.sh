#!/usr/bin/env bash
# Benchmark accuracy: our llmops.vllm.openai_benchmark vs vLLM's own bench client (`vllm bench serve`),
# both run ON THE SERVER'S HOST against the same server with the same request shape (random prompts,
# INPUT_LEN in / OUTPUT_LEN out with ignore_eos, NUM_PROMPTS requests, CONCURRENCY in flight).
# RUNS rounds, alternating which client goes first; every round and client gets a fresh seed, so
# no prompt is ever repeated (prefix caching cannot flatter a later client). Prints output tok/s,
# request throughput, TTFT ... of both and the difference in %; exits 1 beyond TOLERANCE %.
#
#   benchmarks/compare_bench.sh                       # the demo host (make demo)
#   INVENTORY=inventories/gpu_hosts HOST=gpu-1 MODEL=Qwen/Qwen2.5-1.5B-Instruct TOKENIZER=Qwen/Qwen2.5-1.5B-Instruct \
#     INPUT_LEN=512 OUTPUT_LEN=128 NUM_PROMPTS=200 CONCURRENCY=16 benchmarks/compare_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH" ANSIBLE_CONFIG="$root/ansible.cfg"

INVENTORY=${INVENTORY:-inventories/demo}
HOST=${HOST:-cpu_hosts[0]}
URL=${URL:-http://127.0.0.1:8000}                # as seen from the host
MODEL=${MODEL:-tiny}                              # served model name
TOKENIZER=${TOKENIZER:-/var/lib/vllm/models/tiny-qwen2}   # for vLLM's random dataset, on the host
VENV=${VENV:-/opt/vllm/venvs/vllm-0.32.0}                     # the host's vLLM venv
INPUT_LEN=${INPUT_LEN:-64}
OUTPUT_LEN=${OUTPUT_LEN:-128}
NUM_PROMPTS=${NUM_PROMPTS:-200}         # runs of several seconds: short ones are all noise
CONCURRENCY=${CONCURRENCY:-4}
WARMUPS=${WARMUPS:-0}                              # vllm bench serve's default
RUNS=${RUNS:-3}
SETTLE=${SETTLE:-5}                                # seconds of quiet between clients
TOLERANCE=${TOLERANCE:-5}
OUT=${OUT:-$root/artifacts/compare-bench-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

echo "compare_bench: $INPUT_LEN in / $OUTPUT_LEN out tokens, $NUM_PROMPTS requests, concurrency $CONCURRENCY," \
     "$WARMUPS warm-ups, $RUNS runs; host $HOST ($INVENTORY), model $MODEL; results in $OUT"
base_seed=$(( $(date +%s) % 100000 * 1000 ))
# The plan: RUNS rounds, alternating which client goes first; a fresh seed for every client and
# round (ours uses seeds seed..seed+N-1, vLLM one seed), so no prompt is ever sent twice.
plan=""
for run in $(seq 1 "$RUNS"); do
  if (( run % 2 )); then order=(ours vllm); else order=(vllm ours); fi
  for tool in "${order[@]}"; do
    offset=0; [ "$tool" = vllm ] && offset=$(( NUM_PROMPTS + 1 ))
    seed=$(( base_seed + run * 2 * (NUM_PROMPTS + 1) + offset ))
    plan+="${plan:+,}{\"run\": $run, \"tool\": \"$tool\", \"seed\": $seed}"
  done
done
echo "plan: [$plan]" >"$OUT/plan.log"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
ansible-playbook -i "$INVENTORY" benchmarks/compare_bench.yml \
  -e "compare_host=$HOST" -e "compare_url=$URL" -e "compare_model=$MODEL" \
  -e "compare_tokenizer=$TOKENIZER" -e "compare_venv=$VENV" -e compare_input_len="$INPUT_LEN" \
  -e compare_output_len="$OUTPUT_LEN" -e compare_num_prompts="$NUM_PROMPTS" \
  -e compare_concurrency="$CONCURRENCY" -e compare_warmups="$WARMUPS" -e compare_settle="$SETTLE" \
  -e "compare_dir=$OUT" -e "{\"compare_plan\": [$plan]}" >"$OUT/ansible.log" 2>&1 \
  || { echo "the benchmark runs failed, see $OUT/ansible.log" >&2; tail -30 "$OUT/ansible.log" >&2; exit 1; }
cat >"$OUT/setup.json" <<JSON
{"inventory": "$INVENTORY", "host": "$HOST", "url": "$URL", "model": "$MODEL", "input_len": $INPUT_LEN,
 "output_len": $OUTPUT_LEN, "num_prompts": $NUM_PROMPTS, "concurrency": $CONCURRENCY, "warmups": $WARMUPS,
 "runs": $RUNS, "nproc_controller": $(nproc), "loadavg_before": "$load_before",
 "loadavg_after": "$(cut -d' ' -f1-3 /proc/loadavg)"}
JSON
python3 benchmarks/compare_bench.py "$OUT" --tolerance "$TOLERANCE" --json "$OUT/comparison.json"
