#!/usr/bin/env bash
# Galaxy is unreachable from our machines; the `ansible` package on PyPI carries the collections we
# need. Unpack just those (a few MB) from its wheel into build/collections (cached by version).
set -euo pipefail
ansible_version=${ANSIBLE_BUNDLE_VERSION:-12.3.0}
collections=(community/docker ansible/posix community/general community/library_inventory_filtering_v1)
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/build/collections/ansible_collections"
stamp="$dest/.vendored-from-ansible-$ansible_version"
cache=${LLMOPS_CACHE:-$HOME/.cache/llmops-vllm}/pip-downloads
py=${PYTHON:-python3}

[ -f "$stamp" ] && exit 0
mkdir -p "$cache" "$dest"
wheel=$(ls "$cache"/ansible-"$ansible_version"-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  "$py" -m pip download -q --no-deps --only-binary :all: -d "$cache" "ansible==$ansible_version"
  wheel=$(ls "$cache"/ansible-"$ansible_version"-*.whl | head -1)
fi
for c in "${collections[@]}"; do rm -rf "${dest:?}/$c"; done
"$py" - "$wheel" "$dest" "${collections[@]}" <<'PY'
import sys, zipfile, os
wheel, dest, *wanted = sys.argv[1:]
prefixes = tuple(f"ansible_collections/{c}/" for c in wanted)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefixes):
            target = os.path.join(dest, name[len("ansible_collections/"):])
            if name.endswith("/"):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as out:
                out.write(src.read())
PY
# Our own collection is the repo itself.
mkdir -p "$dest/llmops"
ln -sfn ../../../.. "$dest/llmops/vllm"
touch "$stamp"
echo "vendored ${collections[*]} from ansible $ansible_version into build/collections" >&2
