"""Verify llmops.vllm.vllm_gpu on the gpu_vllm host (see ../molecule.yml).

Real: uv (installed by uv_python from a wheel directory), the venv, `uv pip install` with
--torch-backend, the console script. STAND-INS (no GPU on CI machines; the real CUDA wheels weigh
gigabytes): the vllm wheel itself (with a stand-in `torch` that only has torch.version.cuda) and
nvidia-smi replaying a real H100 capture.
"""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("gpu_hosts")

VENV = "/opt/vllm/venv"


def test_pinned_version_installed_not_newest_available(host):
    # the wheel directory has 0.32.0 and 0.33.0; the pin is 0.33.0
    version = host.check_output(
        "%s/bin/python -c 'import importlib.metadata as m; print(m.version(\"vllm\"))'" % VENV)
    assert version == "0.33.0"


def test_vllm_cli_reports_the_version(host):
    assert host.check_output("%s/bin/vllm --version" % VENV) == "0.33.0"


def test_installed_with_uv_into_the_uv_python_venv(host):
    assert host.file("/usr/local/bin/uv").exists
    assert host.file("%s/pyvenv.cfg" % VENV).contains("uv")
    assert host.file("%s/lib/python3.11/site-packages/vllm-0.33.0.dist-info/INSTALLER" % VENV).content_string.strip() == "uv"


def test_no_server_set_up(host):
    # vllm_gpu only installs; vllm_service writes the unit and starts the server
    assert not host.file("/etc/systemd/system/vllm.service").exists
    assert not host.socket("tcp://0.0.0.0:8000").is_listening
