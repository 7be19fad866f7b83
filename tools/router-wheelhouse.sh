#!/usr/bin/env bash
# Build (cached, idempotent) an offline wheelhouse for vLLM's router (PyPI `vllm-router`, a Rust binary
# in an abi3 manylinux wheel) and everything it needs, for a cp311 manylinux x86_64 venv with no network.
# The router host installs from it with roles/vllm_router (vllm_router_find_links + vllm_router_offline).
#
# Usage: tools/router-wheelhouse.sh [OUTPUT_DIR]
#   OUTPUT_DIR                 default ${LLMOPS_CACHE:-$HOME/.cache/llmops-vllm}/wheelhouse-router-cp311
# Env:
#   VLLM_ROUTER_VERSION        0.1.17
#   WHEELHOUSE_PYTHON_VERSION  3.11
#   WHEELHOUSE_PLATFORM_TAG    manylinux_2_28_x86_64 (plus the older manylinux tags it implies)
set -euo pipefail
cache=${LLMOPS_CACHE:-$HOME/.cache/llmops-vllm}
out=${1:-$cache/wheelhouse-router-cp311}
ver=${VLLM_ROUTER_VERSION:-0.1.17}
pyver=${WHEELHOUSE_PYTHON_VERSION:-3.11}
tag=${WHEELHOUSE_PLATFORM_TAG:-manylinux_2_28_x86_64}
stamp="vllm-router==$ver cp${pyver//./} $tag v1"
if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" ]]; then
  echo "$out"; exit 0
fi
mkdir -p "$out"
rm -f "$out/.stamp"
plats=(--platform "$tag")
if [[ $tag =~ ^manylinux_2_([0-9]+)_(.+)$ ]]; then
  arch=${BASH_REMATCH[2]}
  for ((m = BASH_REMATCH[1] - 1; m >= 5; m--)); do plats+=(--platform "manylinux_2_${m}_${arch}"); done
  plats+=(--platform "manylinux2014_${arch}" --platform "manylinux1_${arch}")
fi
tools=$(mktemp -d "${TMPDIR:-/tmp}/router-wheelhouse.XXXXXX")
trap 'rm -rf "$tools"' EXIT
/usr/bin/python3 -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip download --quiet --disable-pip-version-check --only-binary :all: \
  --python-version "$pyver" --implementation cp --abi "cp${pyver//./}" --abi abi3 --abi none "${plats[@]}" \
  --dest "$out" "vllm-router==$ver" 2> >(grep -v "^WARNING: Location 'file:" >&2)
echo "vllm-router==$ver" >"$out/requirements.txt"
(cd "$out" && find . -maxdepth 1 -name '*.whl' -printf '%f\n' | sort | xargs -r sha256sum) >"$out/SHA256SUMS"
echo "$stamp" >"$out/.stamp"
echo "[router-wheelhouse] $(wc -l <"$out/SHA256SUMS") wheels in $out" >&2
echo "$out"
