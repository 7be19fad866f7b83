#!/usr/bin/env bash
# Controller prerequisites from the distribution (Debian/Ubuntu): venv support, debootstrap for the
# test-host image, rsync for pushing wheelhouses, and a Docker engine. Idempotent; a no-op when present.
set -euo pipefail
need=()
"${PYTHON:-python3}" -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v rsync >/dev/null || need+=(rsync)
command -v dockerd >/dev/null || docker info >/dev/null 2>&1 || need+=(docker.io)
if ((${#need[@]})); then
  [ "$(id -u)" = 0 ] || { echo "please install: ${need[*]}" >&2; exit 1; }
  echo "installing ${need[*]} ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
exec "$(dirname "$0")/ensure-docker.sh"
