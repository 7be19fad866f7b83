"""Fixtures for tests that need real hosts: a disposable systemd container from the local test image."""

import glob
import json
import os
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(os.environ.get("LLMOPS_MODEL_DIR", str(REPO / "build/models/tiny-qwen2")))
WHEELHOUSE = os.environ.get("LLMOPS_WHEELHOUSE", os.path.expanduser("~/.cache/llmops-vllm/wheelhouse-cpu-cp311"))

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
            # The tests ask the server from inside the host; on 0.0.0.0 without a key the role refuses.
            "vllm_service_host": "127.0.0.1",
            **(hostvars or {}),
        }}}}}}
        path = tmp_path / "hosts.yml"
        path.write_text(json.dumps(inv))
        return path


def wheelhouse_wheel(pattern):
    wheels = glob.glob(os.path.join(WHEELHOUSE, pattern))
    assert wheels, "no %s in %s (make wheelhouse)" % (pattern, WHEELHOUSE)
    return wheels[0]


def huggingface_hub_venv(host, venv, workdir):
    """A venv on ``host`` holding the huggingface_hub of vLLM's wheelhouse (mounted at /opt/wheelhouse),
    made with uv taken from its wheel (what vllm_cpu_build would have used to make vLLM's venv)."""
    wheelhouse_wheel("huggingface_hub-*.whl")
    if host.sh("test -x /usr/local/bin/uv")[0] != 0:
        uv = Path(workdir) / "uv"
        with zipfile.ZipFile(wheelhouse_wheel("uv-*.whl")) as whl:
            uv.write_bytes(whl.read([n for n in whl.namelist() if re.search(r"\.data/scripts/uv$", n)][0]))
        docker("cp", str(uv), "%s:/usr/local/bin/uv" % host.name)
        host.sh("chmod 0755 /usr/local/bin/uv")
    rc, out = host.sh("test -x {0}/bin/python || (uv venv -q --python /usr/bin/python3 {0} && uv pip install -q "
                      "--python {0}/bin/python --no-index --find-links /opt/wheelhouse huggingface_hub)".format(venv))
    assert rc == 0, out


@pytest.fixture(scope="module")
def systemd_host():
    name = "llmops-it-%s" % uuid.uuid4().hex[:8]
    # The same systemd container settings as the demo host (and the image, built when missing).
    started = subprocess.run([str(REPO / "tools/run-test-host.sh"), name], capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield TestHost(name)
    finally:
        docker("rm", "-f", name, check=False)


def ansible_playbook(playbook, inventory, extra_vars=None, extra_args=(), env=None):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", **(env or {}))
    cmd = ["ansible-playbook", "-i", str(inventory), str(REPO / playbook), *extra_args]
    if extra_vars is not None:
        cmd += ["-e", json.dumps(extra_vars)]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
