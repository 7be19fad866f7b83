"""Fixtures for tests that need real hosts: a disposable systemd container from the local test image."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(os.environ.get("LLMOPS_MODEL_DIR", str(REPO / "build/models/tiny-qwen2")))

# The stand-in Hugging Face Hub (tests/fixtures/standin_hub.py), for the tests that fetch models.
sys.path.insert(0, str(REPO / "tests/fixtures"))
from standin_hub import StandinHub, make_tls_files  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


class TestHost:
    def __init__(self, name):
        self.name = name

    def sh(self, command):
        """Run a shell command on the host; return (rc, output)."""
        res = docker("exec", self.name, "sh", "-c", command, check=False)
        return res.returncode, res.stdout + res.stderr

    def inventory(self, tmp_path, group="cpu_hosts", hostvars=None):
        inv = {"all": {"children": {group: {"hosts": {self.name: {
            "ansible_connection": "community.docker.docker",
            "ansible_host": self.name,
            "ansible_python_interpreter": "/usr/bin/python3",
            **(hostvars or {}),
        }}}}}}
        path = tmp_path / "hosts.yml"
        path.write_text(json.dumps(inv))
        return path


@pytest.fixture(scope="module")
def systemd_host():
    name = "llmops-it-%s" % uuid.uuid4().hex[:8]
    # The same systemd container settings as the demo host (and the image, built when missing).
    started = subprocess.run([str(REPO / "tools/run-test-host.sh"), name], capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        host = TestHost(name)
        host.sh("systemctl is-system-running --wait")
        yield host
    finally:
        docker("rm", "-f", name, check=False)


def ansible_playbook(playbook, inventory, extra_vars=None, extra_args=()):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    cmd = ["ansible-playbook", "-i", str(inventory), str(REPO / playbook), *extra_args]
    if extra_vars is not None:
        cmd += ["-e", json.dumps(extra_vars)]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
