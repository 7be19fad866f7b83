#!/usr/bin/env bash
# Build the local systemd test-host image without any registry:
# debootstrap (minbase + systemd + python3) -> trust the controller's extra CAs -> docker import.
# (docker import cannot set STOPSIGNAL: runners pass --stop-signal SIGRTMIN+3.)
# Cached: the tag carries a hash of every input, so the image is rebuilt only when one changes.
#
# Env: TEST_HOST_SUITE (bookworm), DEBIAN_MIRROR (http://deb.debian.org/debian),
#      TEST_HOST_IMAGE (llmops-vllm/testhost), EXTRA_CA_DIR (/usr/local/share/ca-certificates)
# Prints the image reference (repo:tag) on its last line.
set -euo pipefail

suite=${TEST_HOST_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
repo=${TEST_HOST_IMAGE:-llmops-vllm/testhost}
ca_dir=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
# A bare host: init, python3 for Ansible, CA store, tools Ansible's service facts need.
packages=systemd,systemd-sysv,dbus,python3,ca-certificates,iproute2,procps,sudo

self_hash=$(sha256sum "$0" | cut -c1-12)
ca_hash=$( (find "$ca_dir" -type f -name '*.crt' -print0 2>/dev/null | sort -z | xargs -0 -r cat) | sha256sum | cut -c1-12)
tag="${suite}-$(printf '%s' "$suite $mirror $packages $self_hash $ca_hash" | sha256sum | cut -c1-12)"
ref="${repo}:${tag}"

if docker image inspect "$ref" >/dev/null 2>&1; then
  echo "test-host image is current: $ref" >&2
  docker tag "$ref" "${repo}:${suite}"
  echo "$ref"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/testhost.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "debootstrap $suite from $mirror (a few minutes) ..." >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

# Our egress re-signs TLS: apt/pip/uv inside the host must trust what the controller trusts.
if compgen -G "$ca_dir/*.crt" >/dev/null; then
  cp "$ca_dir"/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi

cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
EOF
# No consoles in a container; an empty machine-id is regenerated at boot.
chroot "$rootfs" systemctl mask getty.target console-getty.service systemd-logind.service >/dev/null 2>&1 || true
: >"$rootfs/etc/machine-id"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin

tar -C "$rootfs" --numeric-owner -c . \
  | docker import -c 'CMD ["/sbin/init"]' -c 'ENV container=docker' - "$ref" >/dev/null
docker tag "$ref" "${repo}:${suite}"
echo "built test-host image $ref" >&2
echo "$ref"
