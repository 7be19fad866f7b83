#!/usr/bin/env bash
# Start a disposable systemd test host: run-test-host.sh NAME [extra docker run args...]
# systemd as PID 1 without --privileged (our VMs withhold CAP_SYS_RESOURCE): SYS_ADMIN, the host's
# cgroup fs, tmpfs /run and /run/lock, SIGRTMIN+3 to stop in <1 s, and a /dev/shm big enough for
# vLLM. The one definition: the demo, tests/system, benchmarks and every Molecule scenario
# (molecule/shared/create.yml) start their hosts here. Returns when systemd has booted.
set -euo pipefail
name=$1; shift
image=$("$(dirname "$0")/test-host-image.sh" | tail -1)
docker rm -f "$name" >/dev/null 2>&1 || true
docker run -d --name "$name" \
  --cap-add SYS_ADMIN --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3 --shm-size 2g \
  "$@" "$image" /sbin/init >/dev/null
# Return once systemd has booted. Right after `docker run` its bus may not exist yet ("Failed to
# connect to bus"), which a loaded machine makes likely: retry until it answers, for up to 3 minutes.
for _ in $(seq 90); do
  state=$(docker exec "$name" systemctl is-system-running --wait 2>/dev/null) || true
  case $state in running | degraded) exit 0 ;; esac
  sleep 2
done
echo "run-test-host: systemd in $name did not boot (state: ${state:-no answer})" >&2
docker logs --tail 30 "$name" >&2 || true
exit 1
