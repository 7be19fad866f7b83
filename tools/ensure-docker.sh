#!/usr/bin/env bash
# Make sure a Docker engine answers. On a machine without one (our CI VMs, a fresh Debian box),
# install Debian's docker.io and start dockerd in the background. Never with --bridge=none:
# on a shared machine that deletes docker0 under everyone else's containers.
set -euo pipefail
log=${DOCKERD_LOG:-/var/log/llmops-dockerd.log}

if docker info >/dev/null 2>&1; then exit 0; fi

if ! command -v dockerd >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "no Docker engine and not root: install Docker, then retry" >&2; exit 1; }
  echo "installing Debian's docker.io ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

# A service manager may own dockerd (systemd hosts); otherwise start it ourselves.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl start docker
else
  [ "$(id -u)" = 0 ] || { echo "dockerd is installed but not running, and we are not root" >&2; exit 1; }
  echo "starting dockerd (log: $log) ..." >&2
  nohup dockerd >>"$log" 2>&1 &
fi

for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "Docker engine did not come up; last log lines:" >&2
tail -20 "$log" >&2 || true
exit 1
