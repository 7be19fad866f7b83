#!/usr/bin/env bash
# ansible-test needs the collection at .../ansible_collections/llmops/vllm for real (it resolves
# symlinks), so run it on a fresh copy of the files the collection ships (dev tools/ stay out).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/build/sanity/ansible_collections/llmops/vllm"
rm -rf "$dest"
mkdir -p "$dest"
cd "$root"
git ls-files -z --cached --others --exclude-standard | grep -zvE '^(build|tools|benchmarks|\.ci)/' \
  | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' | tar --null -T - -cf - | tar -C "$dest" -xf -
cd "$dest"
# ansible-test lists the files to check through git.
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@invalid commit -qm sanity
# The vendored dependencies next to us, so imports of community.docker etc. resolve.
export ANSIBLE_COLLECTIONS_PATH="$root/build/sanity:$root/build/collections"
# ansible-test bootstraps pip in its venvs from an unreachable host: provide the script locally.
pip_version=$(python3 -c 'from ansible_test._internal.python_requirements import PIP_VERSION as v; print(v)' 2>/dev/null || echo 24.2)
cache_script="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
[ -f "$cache_script" ] || install -D -m 0644 "$root/tools/ansible-test/get_pip_standin.py" "$cache_script"
py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
exec ansible-test sanity --color no --python "$py" --requirements "$@"
