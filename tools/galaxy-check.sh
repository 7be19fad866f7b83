#!/usr/bin/env bash
# `make galaxy`: the collection as a Galaxy user gets it.
#   tools/galaxy-check.sh build      the tarball from git's file list (build/galaxy/llmops-vllm-<ver>.tar.gz)
#   tools/galaxy-check.sh contents   only shipped paths (allowlist); junk in the tree (.ansible/, .pytest_cache/,
#                                    artifacts/, __pycache__) changes nothing; a plain `ansible-galaxy collection
#                                    build` in the working tree (galaxy.yml's build_ignore) ships the same files
#   tools/galaxy-check.sh importer   galaxy-importer (local mode, no containers) accepts the tarball
#   tools/galaxy-check.sh install    install the tarball + its dependencies offline into an empty collections
#                                    path and run `ansible-playbook llmops.vllm.site` from it against a fresh host
#   tools/galaxy-check.sh all        all of the above, in that order
# Env: GALAXY_REPOSITORY  the project's repository URL written into the tarball (galaxy.yml has none yet;
#                         Galaxy requires one to publish); GALAXY_TEST_HOST  name of the test host container
#                         (llmops-vllm-galaxy); GALAXY_CONVERGE=1  also one real converge (about 6 minutes
#                         on a busy 2-core machine, so not by default); LLMOPS_WHEELHOUSE, LLMOPS_MODEL_DIR
#                         as for `make demo`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out="$root/build/galaxy"
py=${GALAXY_PYTHON:-$root/.venv/bin/python}   # the dev venv (ansible-core, PyYAML)
bin=$(dirname "$py")
version=$("$py" -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')
tarball="$out/llmops-vllm-$version.tar.gz"
importer_venv="$root/build/importer-venv"
importer_version=0.4.44
export LLMOPS_WHEELHOUSE=${LLMOPS_WHEELHOUSE:-${LLMOPS_CACHE:-$HOME/.cache/llmops-vllm}/wheelhouse-cpu-cp311}
export LLMOPS_MODEL_DIR=${LLMOPS_MODEL_DIR:-$root/build/models/tiny-qwen2}
export LLMOPS_DEBREPO=${LLMOPS_DEBREPO:-${LLMOPS_CACHE:-$HOME/.cache/llmops-vllm}/debrepo-bookworm}

say() { printf '\n== galaxy [%s]: %s\n' "$(date -u +%T)" "$*" >&2; }

# Stage the files git knows (tracked, plus new ones not ignored) that exist, then let ansible-galaxy
# apply build_ignore. $1: output dir, $2: repository URL to write into galaxy.yml (optional).
build_into() {
  local dest=$1 repo=${2:-} stage
  stage=$(mktemp -d)
  mkdir -p "$stage/src" "$dest"
  git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -I{} sh -c 'test -f "{}" && printf "%s\0" "{}"' \
    | tar --null -T - -cf - | tar -C "$stage/src" -xf -
  if [ -n "$repo" ]; then
    printf 'repository: %s\n' "$repo" >>"$stage/src/galaxy.yml"
  fi
  rm -f "$dest/llmops-vllm-$version.tar.gz"
  "$bin/ansible-galaxy" collection build "$stage/src" --output-path "$dest" >/dev/null
  rm -rf "$stage"
}

# Member listing with content hashes (FILES.json holds every file's sha256; MANIFEST.json the rest).
listing() {
  "$py" - "$1" <<'PY'
import hashlib, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in sorted(t.getmembers(), key=lambda m: m.name):
        h = hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isfile() else m.type.decode()
        print(m.name, h)
PY
}

built=0
do_build() {
  say "build $tarball"
  build_into "$out" "${GALAXY_REPOSITORY:-}"
  ls -l "$tarball" >&2
  built=1
}
# Every check works on a tarball of the tree as it is now, built once per run.
ensure_built() { [ $built = 1 ] || do_build; }

junk_files=(); created=()
remove_junk() {
  rm -f "${junk_files[@]}"
  local d
  for d in "${created[@]}"; do rm -rf "${d:?}"; done
}

do_contents() {
  ensure_built
  say "contents: allowlist"
  # What users get; everything else (molecule/, tests/, most of tools/, build/, Makefile, ...) is dev-only.
  listing "$tarball" | "$py" -c '
import re, sys
allowed = re.compile(r"^(MANIFEST\.json|FILES\.json|README\.md|LICENSE|requirements\.yml"
                     r"|(meta|roles|plugins|playbooks|docs|inventories|changelogs)(/.*)?"
                     r"|tools|tools/wheelhouse\.sh|tools/router-wheelhouse\.sh|tools/pip-wheelhouse\.sh|tools/debrepo\.py) ")
names = [l.split(" ")[0] for l in sys.stdin]
bad = [n for n in names if not allowed.match(n + " ") or "__pycache__" in n or n.startswith("changelogs/fragments")]
need = ["README.md", "meta/runtime.yml", "requirements.yml", "playbooks/site.yml", "tools/wheelhouse.sh",
        "tools/router-wheelhouse.sh", "tools/pip-wheelhouse.sh", "tools/debrepo.py"]
need += ["roles/%s/README.md" % r for r in ("apt_check_mode", "apt_local_repo", "container_toolkit", "nvidia_driver", "uv_python",
         "vllm_cpu_build", "vllm_gpu", "vllm_offline_inference", "vllm_router", "vllm_service", "prometheus", "ray_cluster")]
missing = [n for n in need if n not in names]
print("%d members" % len(names), file=sys.stderr)
if bad or missing:
    sys.exit("not allowed in the tarball: %s\nmissing from the tarball: %s" % (bad, missing))
'
  say "contents: junk in the working tree changes nothing"
  local before after direct junk
  before=$(mktemp); after=$(mktemp); direct=$(mktemp)
  listing "$tarball" >"$before"
  # What ansible-lint, pytest, the benchmark and a Python import leave behind, and a stray build.
  junk_dirs=(.ansible/collections/ansible_collections/llmops/vllm/roles .pytest_cache/v .benchmarks artifacts/benchmark
    roles/uv_python/__pycache__ plugins/filter/__pycache__)
  junk_files=(.ansible/collections/ansible_collections/llmops/vllm/roles/junk.yml .pytest_cache/v/junk .benchmarks/junk.json
    artifacts/benchmark/junk.md roles/uv_python/__pycache__/junk.pyc plugins/filter/__pycache__/junk.pyc
    llmops-vllm-0.0.1.tar.gz)
  created=()
  local d f
  for d in .ansible .pytest_cache artifacts roles/uv_python/__pycache__ plugins/filter/__pycache__; do
    [ -e "$d" ] || created+=("$d")
  done
  for f in "${junk_files[@]}"; do [ ! -e "$f" ] || { echo "$f exists: remove it first" >&2; return 1; }; done
  trap remove_junk EXIT; trap 'exit 130' INT TERM
  mkdir -p "${junk_dirs[@]}"
  for f in "${junk_files[@]}"; do echo junk >"$f"; done
  local rc=0 tmpdir
  tmpdir=$(mktemp -d)
  build_into "$tmpdir" "${GALAXY_REPOSITORY:-}"
  listing "$tmpdir/llmops-vllm-$version.tar.gz" >"$after"
  # The same with a plain build in the working tree: galaxy.yml's build_ignore must keep the junk out.
  rm -f "$tmpdir"/*.tar.gz
  "$bin/ansible-galaxy" collection build "$root" --output-path "$tmpdir" >/dev/null
  listing "$tmpdir/llmops-vllm-$version.tar.gz" | grep -v '^MANIFEST\.json ' >"$direct"
  remove_junk; trap - EXIT
  rm -rf "$tmpdir"
  if ! diff -u "$before" "$after" >&2; then echo "the tarball changed with junk in the tree" >&2; rc=1; fi
  # MANIFEST.json differs when GALAXY_REPOSITORY is set; FILES.json (every file and its hash) must not.
  if ! diff -u <(grep -v '^MANIFEST\.json ' "$before") "$direct" >&2; then
    echo "a plain 'ansible-galaxy collection build' ships other files: extend build_ignore in galaxy.yml" >&2; rc=1
  fi
  rm -f "$before" "$after" "$direct"
  [ $rc -eq 0 ] && echo "same content with junk present; build_ignore agrees" >&2
  return $rc
}

do_importer() {
  ensure_built
  if [ "$("$importer_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))' 2>/dev/null)" \
       != "$importer_version" ]; then
    say "galaxy-importer $importer_version into $importer_venv (its own venv: it pins ansible-core)"
    rm -rf "$importer_venv"
    python3 -m venv "$importer_venv"
    "$importer_venv/bin/pip" install -q "galaxy-importer==$importer_version" 2>&1 | grep -v '^WARNING: Location' >&2 || true
    [ "$("$importer_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))')" = "$importer_version" ]
  fi
  local target=$tarball tmpdir
  tmpdir=$(mktemp -d)
  if [ -z "${GALAXY_REPOSITORY:-}" ]; then
    # Galaxy requires a repository URL and the project has none yet: check everything else on a copy
    # that carries a stand-in, and say so.
    echo "NOTE: galaxy.yml has no repository URL (required by Galaxy); checking a build with the stand-in" \
      "https://example.invalid/llmops/vllm. Publish with GALAXY_REPOSITORY=<url> make galaxy." >&2
    build_into "$tmpdir" https://example.invalid/llmops/vllm
    target="$tmpdir/llmops-vllm-$version.tar.gz"
  fi
  say "galaxy-importer $(basename "$tarball") (local mode)"
  # ansible-lint off here: `make lint` runs the same ansible-lint (production profile), and the importer
  # only logs its findings (it never rejects on them); on a busy 2-core machine it costs ~2.5 minutes.
  cat >"$tmpdir/galaxy-importer.cfg" <<'CFG'
[galaxy-importer]
LOCAL_IMAGE_DOCKER = False
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_LINT = False
RUN_ANSIBLE_DOC = True
RUN_FLAKE8 = True
CHECK_REQUIRED_TAGS = False
CFG
  local log="$out/importer.log" rc=0
  # The importer runs ansible-doc and ansible-lint from its venv.
  ( cd "$tmpdir" && env -u ANSIBLE_CONFIG PATH="$importer_venv/bin:$PATH" \
      GALAXY_IMPORTER_CONFIG="$tmpdir/galaxy-importer.cfg" \
      "$importer_venv/bin/python" -m galaxy_importer.main "$target" ) >"$log" 2>&1 || rc=$?
  rm -rf "$tmpdir"
  grep -E 'ERROR|WARNING|Error|rror:' "$log" >&2 || true
  if [ $rc -ne 0 ] || ! grep -q 'Importer processing completed successfully' "$log"; then
    tail -30 "$log" >&2; echo "galaxy-importer rejected the tarball (rc=$rc, log $log)" >&2; return 1
  fi
  echo "galaxy-importer accepted the tarball (log $log)" >&2
}

# The dependencies as Galaxy tarballs, from the vendored copies in build/collections (Galaxy is
# unreachable here): the `ansible` package's copies lack some files their FILES.json lists, so the
# listing is rewritten to what is there. Writes <dir>/requirements.yml the way
# `ansible-galaxy collection download` does.
dependency_tarballs() {
  "$py" - "$1" "$root/build/collections/ansible_collections" <<'PY'
import hashlib, io, json, os, sys, tarfile
import yaml
dest, src = sys.argv[1:]
deps = yaml.safe_load(open("galaxy.yml"))["dependencies"]
todo = list(deps)
seen, reqs = set(), []
while todo:
    fqcn = todo.pop(0)
    if fqcn in seen:
        continue
    seen.add(fqcn)
    ns, name = fqcn.split(".")
    cdir = os.path.join(src, ns, name)
    manifest = json.load(open(os.path.join(cdir, "MANIFEST.json")))
    info = manifest["collection_info"]
    todo += list(info.get("dependencies") or {})
    files = [{"name": ".", "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1}]
    members = []
    for base, dirs, names in os.walk(cdir):
        dirs.sort()
        for d in dirs:
            rel = os.path.relpath(os.path.join(base, d), cdir)
            files.append({"name": rel, "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1})
            members.append(rel)
        for n in sorted(names):
            rel = os.path.relpath(os.path.join(base, n), cdir)
            if rel in ("MANIFEST.json", "FILES.json") or os.path.islink(os.path.join(base, n)):
                continue
            data = open(os.path.join(base, n), "rb").read()
            files.append({"name": rel, "ftype": "file", "chksum_type": "sha256",
                          "chksum_sha256": hashlib.sha256(data).hexdigest(), "format": 1})
            members.append(rel)
    files_json = json.dumps({"files": files, "format": 1}, indent=4).encode()
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json).hexdigest()
    manifest_json = json.dumps(manifest, indent=4).encode()
    path = os.path.join(dest, "%s-%s-%s.tar.gz" % (ns, name, info["version"]))
    with tarfile.open(path, "w:gz") as tar:
        for arcname, data in (("MANIFEST.json", manifest_json), ("FILES.json", files_json)):
            ti = tarfile.TarInfo(arcname); ti.size = len(data); ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(data))
        for rel in members:
            tar.add(os.path.join(cdir, rel), arcname=rel, recursive=False)
    reqs.append({"name": os.path.basename(path), "version": info["version"]})
    print("%s %s -> %s" % (fqcn, info["version"], os.path.basename(path)), file=sys.stderr)
yaml.safe_dump({"collections": reqs}, open(os.path.join(dest, "deps.yml"), "w"))
PY
}

do_install() {
  ensure_built
  [ -d build/collections/ansible_collections/community/docker ] || PYTHON="$py" tools/vendor-collections.sh
  local work host=${GALAXY_TEST_HOST:-llmops-vllm-galaxy}
  work=$(mktemp -d /tmp/llmops-galaxy.XXXXXX)
  say "install: stand-in for \`ansible-galaxy collection download llmops.vllm\` in $work/download"
  mkdir -p "$work/download" "$work/collections" "$work/run"
  cp "$tarball" "$work/download/"
  dependency_tarballs "$work/download"
  # The way a download directory is installed on an air-gapped controller: its requirements.yml.
  "$py" - "$work/download" "$(basename "$tarball")" "$version" <<'PY'
import sys, yaml
d, tb, v = sys.argv[1:]
deps = yaml.safe_load(open(d + "/deps.yml"))["collections"]
yaml.safe_dump({"collections": [{"name": tb, "version": v}] + deps}, open(d + "/requirements.yml", "w"))
PY
  # No checkout, no ansible.cfg, no other collections: only what the install puts into $work/collections.
  local -a env_clean=(env -u ANSIBLE_CONFIG -u ANSIBLE_ROLES_PATH -u ANSIBLE_INVENTORY
    ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
    ANSIBLE_ROLES_PATH="$work/roles" ANSIBLE_HOST_KEY_CHECKING=False HOME="$work/home"
    ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=8)
  mkdir -p "$work/home"

  say "install: our tarball alone must fail offline (its dependencies are declared)"
  if (cd "$work/run" && "${env_clean[@]}" "$bin/ansible-galaxy" collection install --offline \
        "$work/download/$(basename "$tarball")" -p "$work/collections") >"$work/alone.log" 2>&1; then
    cat "$work/alone.log" >&2; echo "installed without its dependencies: galaxy.yml declares none?" >&2; return 1
  fi
  grep -q 'community.docker' "$work/alone.log" || { cat "$work/alone.log" >&2; echo "unexpected failure" >&2; return 1; }

  say "install: ansible-galaxy collection install -r requirements.yml --offline"
  (cd "$work/download" && "${env_clean[@]}" "$bin/ansible-galaxy" collection install --offline \
      -r requirements.yml -p "$work/collections") >&2
  (cd "$work/run" && "${env_clean[@]}" "$bin/ansible-galaxy" collection list) >&2
  [ ! -e "$work/collections/ansible_collections/llmops/vllm/molecule" ] || { echo "dev files installed" >&2; return 1; }

  say "install: ansible-doc and playbooks by FQCN from the installed collection"
  (cd "$work/run" && "${env_clean[@]}" "$bin/ansible-doc" -t role llmops.vllm.vllm_service | head -3) >&2
  (cd "$work/run" && "${env_clean[@]}" "$bin/ansible-doc" -t filter llmops.vllm.systemd_env_value | head -3) >&2

  # The demo's inventory as shipped (inventories/demo/group_vars), pointed at our test host.
  local coll="$work/collections/ansible_collections/llmops/vllm"
  mkdir -p "$work/inventory"
  cp -r "$coll/inventories/demo/group_vars" "$work/inventory/"
  cat >"$work/inventory/hosts.yml" <<YML
all:
  children:
    cpu_hosts:
      hosts:
        galaxy-test:
          ansible_connection: community.docker.docker
          ansible_host: $host
YML
  say "install: test host $host (wheelhouse at /opt/wheelhouse)"
  trap "docker rm -f '$host' >/dev/null 2>&1 || true" EXIT; trap 'exit 130' INT TERM
  tools/run-test-host.sh "$host" --hostname galaxy-test -v "$LLMOPS_WHEELHOUSE:/opt/wheelhouse:ro"
  local rc=0
  (
    set -e
    cd "$work/run"
    export LLMOPS_MODEL_DIR
    say "install: ansible-playbook llmops.vllm.site --check (bare host)"
    "${env_clean[@]}" "$bin/ansible-playbook" llmops.vllm.site -i "$work/inventory" --check >"$work/check.log" 2>&1 \
      || { tail -40 "$work/check.log"; exit 1; }
    grep -A12 'PLAY RECAP' "$work/check.log"
    # Check mode runs none of our modules on a bare host: run one (with its module_utils) for real.
    say "install: ansible -m llmops.vllm.nvidia_smi_info (a collection module on the host, no GPU there)"
    "${env_clean[@]}" "$bin/ansible" cpu_hosts -i "$work/inventory" -m llmops.vllm.nvidia_smi_info >"$work/module.log" 2>&1 \
      || { cat "$work/module.log"; exit 1; }
    grep -q '"nvidia_smi_present": false' "$work/module.log" || { cat "$work/module.log"; exit 1; }
    if [ "${GALAXY_CONVERGE:-0}" = 1 ]; then
      say "install: ansible-playbook llmops.vllm.site (converge: uv, vLLM CPU from the wheelhouse, the unit, the play's chat probe on the host)"
      # --enforce-eager: no torch.compile at the server's first start (minutes on a small CI machine).
      "${env_clean[@]}" "$bin/ansible-playbook" llmops.vllm.site -i "$work/inventory" \
        -e '{"vllm_service_extra_args": ["--max-model-len", "512", "--enforce-eager"]}' >"$work/converge.log" 2>&1 \
        || { tail -60 "$work/converge.log"; exit 1; }
      grep -A12 'PLAY RECAP' "$work/converge.log"
    fi
  ) >&2 || rc=$?
  docker rm -f "$host" >/dev/null 2>&1 || true
  trap - EXIT
  if [ $rc -eq 0 ]; then
    rm -rf "$work"
    echo "installed from the tarball; llmops.vllm.site ran from it ($([ "${GALAXY_CONVERGE:-0}" = 1 ] && echo 'check mode + converge' || echo 'check mode; GALAXY_CONVERGE=1 adds a converge'))" >&2
  else echo "logs in $work" >&2; fi
  return $rc
}

case ${1:-all} in
  build) do_build ;;
  contents) do_contents ;;
  importer) do_importer ;;
  install) do_install ;;
  all) do_build; do_contents; do_importer; do_install ;;
  *) echo "usage: $0 [build|contents|importer|install|all]" >&2; exit 2 ;;
esac
