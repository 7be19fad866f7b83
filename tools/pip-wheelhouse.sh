#!/usr/bin/env bash
# Build (cached, idempotent) an offline wheelhouse of some PyPI packages and everything they need, for a
# cp311 manylinux x86_64 venv with no network. Hosts install from it with a role's *_find_links +
# *_offline (vllm_router: vllm-router; ray_cluster: ray).
#
# Usage: tools/pip-wheelhouse.sh OUTPUT_DIR REQUIREMENT...     e.g. tools/pip-wheelhouse.sh /srv/wh ray==2.60.0
# Env:
#   WHEELHOUSE_PYTHON_VERSION  3.11
#   WHEELHOUSE_PLATFORM_TAG    manylinux_2_28_x86_64 (plus the older manylinux tags it implies)
set -euo pipefail
out=${1:?usage: pip-wheelhouse.sh OUTPUT_DIR REQUIREMENT...}
shift
(($#)) || { echo "pip-wheelhouse.sh: no requirement given" >&2; exit 2; }
pyver=${WHEELHOUSE_PYTHON_VERSION:-3.11}
tag=${WHEELHOUSE_PLATFORM_TAG:-manylinux_2_28_x86_64}
stamp="$* cp${pyver//./} $tag v1"
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
tools=$(mktemp -d "${TMPDIR:-/tmp}/pip-wheelhouse.XXXXXX")
trap 'rm -rf "$tools"' EXIT
/usr/bin/python3 -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip download --quiet --disable-pip-version-check --only-binary :all: \
  --python-version "$pyver" --implementation cp --abi "cp${pyver//./}" --abi abi3 --abi none "${plats[@]}" \
  --dest "$out" "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2)
printf '%s\n' "$@" >"$out/requirements.txt"
(cd "$out" && find . -maxdepth 1 -name '*.whl' -printf '%f\n' | sort | xargs -r sha256sum) >"$out/SHA256SUMS"
echo "$stamp" >"$out/.stamp"
echo "[pip-wheelhouse] $(wc -l <"$out/SHA256SUMS") wheels in $out" >&2
echo "$out"
