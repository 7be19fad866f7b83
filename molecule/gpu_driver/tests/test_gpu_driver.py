"""Verify llmops.vllm.nvidia_driver on the three gpu_driver hosts (see ../molecule.yml).

No GPU on CI machines: the "loaded" and "fresh" hosts use STAND-INS (fake sysfs/proc trees, a
stand-in nvidia-smi replaying a real capture, and a stand-in of NVIDIA's CUDA repository signed with
a throwaway key). apt, dpkg, systemd, the keyring and the repository files are real.
"""

import os

import pytest
import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("gpu_hosts")

CUDA_SOURCES = "/etc/apt/sources.list.d/nvidia-cuda.sources"
KEYRING = "/etc/apt/keyrings/nvidia-cuda.asc"
BLACKLIST = "/etc/modprobe.d/blacklist-nouveau.conf"


def group(host):
    name = host.backend.get_hostname()
    for g in ("gpu_none", "gpu_loaded", "gpu_fresh"):
        if name in RUNNER.get_hosts(g):
            return g
    raise AssertionError(name)


def only(host, *groups):
    if group(host) not in groups:
        pytest.skip("not a %s host" % "/".join(groups))


def test_nothing_installed_without_gpu_or_at_branch(host):
    only(host, "gpu_none", "gpu_loaded")
    assert not host.file(CUDA_SOURCES).exists
    assert not host.file(KEYRING).exists
    assert not host.file(BLACKLIST).exists
    assert not host.package("nvidia-open").is_installed
    assert not host.package("nvidia-driver-pinning-580").is_installed


def test_repository_signed_by_the_pinned_key(host):
    only(host, "gpu_fresh")
    sources = host.file(CUDA_SOURCES).content_string
    assert "URIs: file:///srv/standin-apt/cuda/debian12/x86_64/" in sources
    assert "Suites: /" in sources
    assert "Signed-By: %s" % KEYRING in sources
    key = host.file(KEYRING)
    assert key.user == "root" and key.mode == 0o644
    expected = host.file("/srv/standin-apt/keys/FINGERPRINT").content_string.strip()
    listed = host.check_output(
        "gpg --homedir $(mktemp -d) --batch --with-colons --show-keys %s | awk -F: '$1 == \"fpr\" {print $10; exit}'" % KEYRING)
    assert listed == expected


def test_apt_verifies_the_repository_signature(host):
    only(host, "gpu_fresh")
    out = host.run("apt-get update 2>&1")
    assert out.rc == 0, out.stdout
    assert "NO_PUBKEY" not in out.stdout and "not signed" not in out.stdout


def test_branch_pinned_driver_installed(host):
    only(host, "gpu_fresh")
    assert host.package("nvidia-driver-pinning-580").is_installed
    pkg = host.package("nvidia-open")
    assert pkg.is_installed
    assert pkg.version == "580.95.05-1"  # the stand-in repository also offers 590.48.01-1
    assert host.file("/etc/apt/preferences.d/nvidia-driver-pinning-580").exists


def test_nouveau_blacklisted(host):
    only(host, "gpu_fresh")
    content = host.file(BLACKLIST).content_string
    assert "blacklist nouveau" in content
    assert "options nouveau modeset=0" in content


def test_persistenced_enabled_not_started_before_reboot(host):
    only(host, "gpu_fresh")
    svc = host.service("nvidia-persistenced")
    assert svc.is_enabled
    assert not svc.is_running  # the module is not loaded until the (pending) reboot
