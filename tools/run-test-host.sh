#!/usr/bin/env bash
# Start a disposable systemd test host: run-test-host.sh NAME [extra docker run args...]
# systemd as PID 1 without --privileged (our VMs withhold CAP_SYS_RESOURCE): SYS_ADMIN, the host's
# cgroup fs, tmpfs /run and /run/lock, SIGRTMIN+3 to stop in <1 s, and a /dev/shm big enough for
# vLLM. The one definition: the demo, tests/system, benchmarks and every Molecule scenario
# (molecule/shared/create.yml) start their hosts here.
set -euo pipefail
name=$1; shift
image=$("$(dirname "$0")/test-host-image.sh" | tail -1)
docker rm -f "$name" >/dev/null 2>&1 || true
docker run -d --name "$name" \
  --cap-add SYS_ADMIN --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3 --shm-size 2g \
  "$@" "$image" /sbin/init >/dev/null
