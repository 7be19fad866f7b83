#!/usr/bin/env bash
# Build a local CPU vLLM image that stands in for vllm/vllm-openai(-cpu) in container-mode tests:
# our machines cannot pull images. Same contract as vLLM's images: the entrypoint is the OpenAI
# server and `docker run IMAGE --model …` arguments go to it. Built without a registry and without
# copying the ~0.9 GB wheelhouse into a layer: install in a container with the wheelhouse mounted,
# then `docker commit`. Cached by the inputs' hash. Prints the image reference on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
wheelhouse=${LLMOPS_WHEELHOUSE:-$HOME/.cache/llmops-vllm/wheelhouse-cpu-cp311}
repo=${VLLM_CPU_IMAGE:-llmops-vllm/vllm-openai-cpu-standin}
base=$(tools/test-host-image.sh | tail -1)
[ -f "$wheelhouse/requirements.lock" ] || { echo "no wheelhouse at $wheelhouse (make wheelhouse)" >&2; exit 1; }
tag=$(cat "$0" "$wheelhouse/requirements.lock" <(echo "$base") | sha256sum | cut -c1-12)
ref="$repo:$tag"
if docker image inspect "$ref" >/dev/null 2>&1; then echo "$ref"; exit 0; fi

name=llmops-build-vllm-image-$$
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
echo "building $ref from $base (a few minutes) ..." >&2
docker run --name "$name" -v "$wheelhouse:/wh:ro" --entrypoint /bin/sh "$base" -euc '
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libnuma1 gcc g++ python3-dev python3-venv libtcmalloc-minimal4 >/dev/null
  rm -rf /var/lib/apt/lists/*
  python3 -m venv /opt/venv
  /opt/venv/bin/pip install -q --no-index --find-links /wh -r /wh/uv-requirements.txt
  /opt/venv/bin/uv pip install -q --python /opt/venv/bin/python --offline --no-index --find-links /wh \
    --compile-bytecode --excludes /wh/excludes.txt -r /wh/requirements.lock
  /opt/venv/bin/python -c "import vllm.entrypoints.openai.api_server"
' >&2
docker commit \
  -c 'ENTRYPOINT ["/opt/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"]' \
  -c 'CMD []' \
  -c 'ENV LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4:/opt/venv/lib/libiomp5.so' \
  -c 'ENV VLLM_CPU_KVCACHE_SPACE=1' \
  -c 'EXPOSE 8000' \
  "$name" "$ref" >/dev/null
docker tag "$ref" "$repo:latest"
echo "$ref"
