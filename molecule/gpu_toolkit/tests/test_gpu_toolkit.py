"""Verify llmops.vllm.container_toolkit on the gpu_toolkit host (see ../molecule.yml).

Real: Debian's docker.io package, apt with a deb822 source signed_by a fingerprint-checked key, dpkg,
the role's decisions and checks. STAND-INS (no GPU, NVIDIA unreachable on CI machines): the toolkit
packages and their nvidia-ctk (which does the daemon.json merge and writes the CDI spec), served from
a locally built repository signed with a throwaway key, and nvidia-smi replaying a real H100 capture.
Docker's daemon is never started here. What the role does with the stand-in's output (catching a
lost daemon.json key, regenerating a CDI spec made for another driver) is tested in side_effect.yml.
"""

import json
import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("gpu_hosts")

SOURCES = "/etc/apt/sources.list.d/nvidia-container-toolkit.sources"
KEYRING = "/etc/apt/keyrings/nvidia-container-toolkit.asc"
PACKAGES = ["nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools", "libnvidia-container1"]


def test_repository_is_deb822_signed_by_the_pinned_key(host):
    sources = host.file(SOURCES).content_string
    assert "URIs: file:///srv/standin-apt/libnvidia-container/stable/deb/$(ARCH)" in sources
    assert "Suites: /" in sources
    assert "Signed-By: %s" % KEYRING in sources
    assert not host.file("/etc/apt/sources.list.d/nvidia-docker.list").exists
    expected = host.file("/srv/standin-apt/keys/FINGERPRINT").content_string.strip()
    listed = host.check_output(
        "gpg --homedir $(mktemp -d) --batch --with-colons --show-keys %s | awk -F: '$1 == \"fpr\" {print $10; exit}'" % KEYRING)
    assert listed == expected


def test_no_legacy_apt_key_trust(host):
    assert not host.file("/etc/apt/trusted.gpg").exists


def test_apt_verifies_the_repository_signature(host):
    out = host.run("apt-get update 2>&1")
    assert out.rc == 0, out.stdout
    assert "NO_PUBKEY" not in out.stdout and "not signed" not in out.stdout


def test_toolkit_pinned_not_newest(host):
    for name in PACKAGES:
        pkg = host.package(name)
        assert pkg.is_installed, name
        assert pkg.version == "1.17.8-1", (name, pkg.version)  # the repository also has 1.18.0-1
    assert "1.17.8" in host.check_output("nvidia-ctk --version")


def test_docker_engine_installed_but_not_running(host):
    assert host.package("docker.io").is_installed
    assert not host.service("docker").is_running


def test_daemon_json_keeps_every_seeded_key(host):
    # The merge is the STAND-IN nvidia-ctk's. What this checks of the role: it ran nvidia-ctk on this
    # file with --set-as-default and left every seeded key (the role's own key check is in side_effect.yml).
    seeded = json.loads(host.file("/root/daemon.json.seeded").content_string)
    current = json.loads(host.file("/etc/docker/daemon.json").content_string)
    for key, value in seeded.items():
        if key == "runtimes":
            for name, runtime in value.items():
                assert current["runtimes"][name] == runtime
        else:
            assert current[key] == value, key
    assert current["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert current["default-runtime"] == "nvidia"


def test_cdi_spec_for_the_driver(host):
    # The spec's content is the STAND-IN nvidia-ctk's (from the stand-in nvidia-smi). What this checks of
    # the role: it generated the spec at container_toolkit_cdi_spec, for the driver nvidia-smi reports.
    spec = host.file("/etc/cdi/nvidia.yaml")
    assert spec.exists
    content = spec.content_string
    assert "kind: nvidia.com/gpu" in content
    assert "GPU-00000000-0000-0000-0000-000000000000" in content  # the UUID in the real H100 capture
    assert "libcuda.so.590.48.01" in content                      # its driver version
