"""uv_python's release-binary method on a real systemd host.

GitHub is unreachable here, so the release tarball is a stand-in rebuilt from the uv wheel on PyPI
(same binaries, same `uv-<arch>-unknown-linux-gnu/uv` layout as Astral's release asset) and served
from a file:// URL on the host. The checksum check, unpacking, linking and venv creation are real.
"""

import hashlib
import io
import re
import tarfile
import zipfile

import pytest

from conftest import ansible_playbook, docker, wheelhouse_wheel

UV_VERSION = "0.13.9"


@pytest.fixture(scope="module")
def release_tarball(tmp_path_factory):
    wheels = [wheelhouse_wheel("uv-%s-*.whl" % UV_VERSION)]
    path = tmp_path_factory.mktemp("uv") / "uv-x86_64-unknown-linux-gnu.tar.gz"
    with zipfile.ZipFile(wheels[0]) as whl, tarfile.open(path, "w:gz") as tar:
        for name in whl.namelist():
            if re.search(r"\.data/scripts/(uv|uvx)$", name):
                data = whl.read(name)
                info = tarfile.TarInfo("uv-x86_64-unknown-linux-gnu/" + name.rsplit("/", 1)[1])
                info.size, info.mode = len(data), 0o755
                tar.addfile(info, io.BytesIO(data))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def run_binary_method(host, tmp_path, tarball, sha256, python="3.11"):
    docker("cp", str(tarball), "%s:/srv/uv-release.tar.gz" % host.name)
    return ansible_playbook("tests/system/playbooks/uv_python.yml", host.inventory(tmp_path), {
        "uv_python_install_method": "binary",
        "uv_python_binary_url": "file:///srv/uv-release.tar.gz",
        "uv_python_binary_sha256": sha256,
        "uv_python_version": python,
        "uv_python_preference": "only-system",
        "uv_python_venv_path": "/opt/test/venv",
    })


def test_wrong_checksum_installs_nothing(systemd_host, tmp_path, release_tarball):
    res = run_binary_method(systemd_host, tmp_path, release_tarball[0], "0" * 64)
    assert res.returncode != 0
    assert "checksum" in (res.stdout + res.stderr).lower()
    assert systemd_host.sh("test -e /usr/local/bin/uv")[0] != 0


def test_binary_method_installs_uv_and_venv_idempotently_and_never_replaces_it(
        systemd_host, tmp_path, release_tarball):
    tarball, sha256 = release_tarball
    first = run_binary_method(systemd_host, tmp_path, tarball, sha256)
    assert first.returncode == 0, first.stdout[-4000:]
    rc, out = systemd_host.sh("/usr/local/bin/uv --version")
    assert rc == 0 and out.split()[1] == UV_VERSION
    rc, out = systemd_host.sh("/opt/test/venv/bin/python -c 'import sys, pip; print(sys.version_info[:2])'")
    assert rc == 0 and "(3, 11)" in out  # seeded: pip is in the venv
    second = run_binary_method(systemd_host, tmp_path, tarball, sha256)
    assert second.returncode == 0
    assert re.search(r"changed=0\s", second.stdout), second.stdout[-2000:]
    # Another Python for the same path: refused before anything changes; the venv (which a server
    # may run from) is left as it was, not replaced with `uv venv --clear`.
    systemd_host.sh("touch /opt/test/venv/marker")
    other = run_binary_method(systemd_host, tmp_path, tarball, sha256, python="3.12")
    out = other.stdout + other.stderr
    assert other.returncode != 0, out[-2000:]
    assert "uv_python_venv_path" in out and "never replaces a venv" in out, out[-2000:]
    assert re.search(r"changed=0\s", other.stdout), other.stdout[-2000:]
    assert systemd_host.sh("test -e /opt/test/venv/marker")[0] == 0
    rc, out = systemd_host.sh("/opt/test/venv/bin/python -c 'import sys; print(sys.version_info[:2])'")
    assert rc == 0 and "(3, 11)" in out
