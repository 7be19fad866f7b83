#!/usr/bin/env bash
# Build (cached, idempotent) an offline wheelhouse for vLLM's router (PyPI `vllm-router`, a Rust binary
# in an abi3 manylinux wheel) and everything it needs, for a cp311 manylinux x86_64 venv with no network.
# The router host installs from it with roles/vllm_router (vllm_router_find_links + vllm_router_offline).
#
# Usage: tools/router-wheelhouse.sh [OUTPUT_DIR]
#   OUTPUT_DIR                 default ${LLMOPS_CACHE:-$HOME/.cache/llmops-vllm}/wheelhouse-router-cp311
# Env:
#   VLLM_ROUTER_VERSION        0.1.17
#   WHEELHOUSE_PYTHON_VERSION, WHEELHOUSE_PLATFORM_TAG: see tools/pip-wheelhouse.sh
set -euo pipefail
out=${1:-${LLMOPS_CACHE:-$HOME/.cache/llmops-vllm}/wheelhouse-router-cp311}
exec "$(dirname "$0")/pip-wheelhouse.sh" "$out" "vllm-router==${VLLM_ROUTER_VERSION:-0.1.17}"
