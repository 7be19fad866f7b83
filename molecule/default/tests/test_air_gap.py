"""The scenario's host has no network at all, and the converge still installed everything.

The host runs with `docker run --network none` (molecule.yml): only loopback. Its OS packages came
from the signed local apt repository that llmops.vllm.apt_local_repo staged from the controller
(tools/debrepo.py built it), and no role refreshed Debian's archive, which the host cannot reach.
"""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("cpu_hosts")

REPO = "/opt/llmops/apt-local"
SOURCE = "/etc/apt/sources.list.d/llmops-local.list"
KEYRING = "/etc/apt/keyrings/llmops-local.gpg"
# What uv_python and vllm_cpu_build install (none of it is in the bare test-host image).
PACKAGES = ["gcc", "g++", "python3-dev", "libnuma1", "libtcmalloc-minimal4", "python3-venv", "python3-apt"]


def test_host_has_no_network(host):
    links = host.check_output("ls /sys/class/net").split()
    assert links == ["lo"], links
    reach = host.run("python3 -c \"import socket; socket.create_connection(('151.101.2.132', 80), timeout=3)\"")
    assert reach.rc != 0 and "unreachable" in reach.stderr.lower(), reach.stderr


def test_os_packages_came_from_the_local_repository(host):
    for package in PACKAGES:
        policy = host.check_output("apt-cache policy %s" % package)
        installed = [line.split()[-1] for line in policy.splitlines() if line.strip().startswith("Installed:")]
        assert installed and installed[0] != "(none)", policy
        # The installed version's line '*** VERSION PRIO', then its sources (indented deeper).
        lines = policy.split("*** %s " % installed[0], 1)[1].splitlines()[1:]
        end = next((i for i, line in enumerate(lines) if not line.startswith(" " * 8)), len(lines))
        sources = [line.strip() for line in lines[:end]]
        assert "500 file:%s ./ Packages" % REPO in sources, policy


def test_no_role_refreshed_the_unreachable_archive(host):
    lists = host.check_output("ls /var/lib/apt/lists").split()
    assert "_opt_llmops_apt-local_._InRelease" in lists
    assert not [name for name in lists if "debian.org" in name], lists


def test_repository_is_root_owned_and_signed(host):
    for path in (REPO, REPO + "/Packages", REPO + "/InRelease", SOURCE, KEYRING):
        item = host.file(path)
        assert item.user == "root" and item.group == "root", path
        assert not item.mode & 0o022, (path, oct(item.mode))
    assert host.file(SOURCE).content_string == "deb [signed-by=%s] file:%s ./\n" % (KEYRING, REPO)
    assert host.file(REPO + "/InRelease").content_string.startswith("-----BEGIN PGP SIGNED MESSAGE-----")


def _update_from(host, repo):
    """apt-get update of a copy of the repository only, with its own lists: the host's are not touched."""
    host.check_output("rm -rf /tmp/airgap-lists && mkdir -p /tmp/airgap-lists/partial")
    host.check_output("echo 'deb [signed-by=%s] file:%s ./' > /tmp/airgap.list" % (KEYRING, repo))
    return host.run("apt-get update -o Dir::Etc::SourceList=/tmp/airgap.list -o Dir::Etc::SourceParts=- "
                    "-o Dir::State::Lists=/tmp/airgap-lists")


def test_apt_refuses_the_repository_once_its_index_is_altered(host):
    """The source line the role wrote makes apt check the repository's signature with its key: a copy
    is accepted as staged and refused once one byte of its signed index changes."""
    host.check_output("rm -rf /tmp/airgap-repo && cp -a %s /tmp/airgap-repo" % REPO)
    try:
        intact = _update_from(host, "/tmp/airgap-repo")
        assert intact.rc == 0 and "W:" not in intact.stdout + intact.stderr, intact.stdout + intact.stderr
        host.check_output("sed -i 's/^Label: llmops.vllm local$/Label: llmops.vllm lOcal/' /tmp/airgap-repo/InRelease")
        altered = _update_from(host, "/tmp/airgap-repo")
        output = altered.stdout + altered.stderr
        assert altered.rc != 0 or "not signed" in output, output
        assert "BADSIG" in output or "not signed" in output or "invalid" in output.lower(), output
    finally:
        host.run("rm -rf /tmp/airgap-repo /tmp/airgap-lists /tmp/airgap.list")
