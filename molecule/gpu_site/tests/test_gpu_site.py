"""Verify what playbooks/gpu.yml promises, on the gpu_site host after site.yml (see ../molecule.yml).

Real: apt, dpkg, the deb822 source and its signature check, apt pinning, systemd, uv, the venv,
`uv pip install`, the unit with its environment and hardening, the HTTP requests.
STAND-INS (a physical GPU and NVIDIA's servers cannot exist here): the GPU is a fake sysfs entry; the
driver packages come from a local repository signed with a throwaway key; `modprobe nvidia` "loads"
them by writing a fake /proc/driver/nvidia/version; nvidia-smi replays the real H100 capture derived
to driver 580.95.05; and vLLM is the stand-in wheel of molecule/gpu_vllm, whose `vllm serve` answers
the OpenAI API with a fixed text. So the chat test proves the whole chain up to a served OpenAI
request (unit, argv, environment, port, health, model name), not inference on a GPU.
"""

import json
import os
import re

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("gpu_hosts")

UNIT = "vllm.service"
ENV_FILE = "/etc/vllm/vllm.env"
MODEL = "/var/lib/vllm/models/tiny-qwen2"
FAKE_PROC = "/opt/fake-proc/driver/nvidia/version"
MODELS = 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:8000/v1/models", timeout=10).read().decode())'
CHAT = """
import json, sys, urllib.request
req = urllib.request.Request("http://127.0.0.1:8000/v1/chat/completions", method="POST",
    headers={"Content-Type": "application/json"},
    data=json.dumps({"model": sys.argv[1], "max_tokens": 32,
                     "messages": [{"role": "user", "content": "Hello!"}]}).encode())
print(urllib.request.urlopen(req, timeout=10).read().decode())
"""


def exec_argv(host):
    """argv of the unit's ExecStart, as systemd parsed it."""
    shown = host.check_output("systemctl show %s -p ExecStart --value" % UNIT)
    return re.search(r"argv\[\]=(.*?) ;", shown).group(1).split()


def test_driver_from_the_pinned_signed_repository(host):
    sources = host.file("/etc/apt/sources.list.d/nvidia-cuda.sources").content_string
    assert "URIs: file:///srv/standin-apt/cuda/debian12/x86_64/" in sources
    assert "Signed-By: /etc/apt/keyrings/nvidia-cuda.asc" in sources
    out = host.run("apt-get update 2>&1")
    assert out.rc == 0 and "NO_PUBKEY" not in out.stdout, out.stdout
    assert host.package("nvidia-driver-pinning-580").is_installed
    assert host.package("nvidia-open").version == "580.95.05-1"  # the repository also has 590.48.01-1


def test_driver_loaded_without_a_reboot_and_detected(host):
    # nvidia_driver_reboot: auto (the example) reboots only when `modprobe nvidia` cannot load it.
    # The fake /proc file is written by the STAND-IN modprobe; what is the role's: it ran `modprobe nvidia`
    # (no reboot) for the version it installed. What nvidia-smi then said is checked in converge.yml
    # against the role's published facts, not by running the stand-in here.
    assert "Open Kernel Module for x86_64  580.95.05 " in host.file(FAKE_PROC).content_string
    assert host.file("/etc/modprobe.d/blacklist-nouveau.conf").contains("blacklist nouveau")
    persistenced = host.service("nvidia-persistenced")
    assert persistenced.is_enabled and persistenced.is_running


def test_vllm_gpu_build_in_the_uv_venv(host):
    entrypoint = exec_argv(host)[0]
    venv = os.path.dirname(os.path.dirname(entrypoint))
    assert entrypoint == venv + "/bin/vllm"
    assert host.file(venv + "/pyvenv.cfg").contains("uv")
    assert host.check_output("%s --version" % entrypoint) == "0.33.0"
    installer = host.file("%s/lib/python3.11/site-packages/vllm-0.33.0.dist-info/INSTALLER" % venv)
    assert installer.content_string.strip() == "uv"


def test_unit_runs_vllm_serve_with_the_fleet_settings(host):
    argv = exec_argv(host)
    assert argv[1:] == ["serve", "--model", MODEL, "--host", "0.0.0.0", "--port", "8000",
                        "--disable-fastapi-docs", "--allowed-origins", "[]", "--shutdown-timeout", "120",
                        "--max-model-len", "8192", "--gpu-memory-utilization", "0.90"]
    svc = host.service("vllm")
    assert svc.is_enabled and svc.is_running
    unit = host.file("/etc/systemd/system/" + UNIT).content_string
    assert "User=vllm" in unit and "NoNewPrivileges=yes" in unit
    assert "\nTimeoutStopSec=150\n" in unit  # vLLM's 120 s drain, then 30 s before SIGKILL


def test_cuda_settings_reach_the_server(host):
    env_file = host.file(ENV_FILE)
    assert env_file.user == "root" and env_file.mode == 0o600
    env = dict(line.split("=", 1) for line in env_file.content_string.splitlines() if "=" in line and not line.startswith("#"))
    env = {key: value.strip('"') for key, value in env.items()}  # systemd unquotes EnvironmentFile values
    assert env["CUDA_VISIBLE_DEVICES"] == "0"
    assert env["HF_HUB_OFFLINE"] == "1"                      # a staged model needs no hub
    assert not any(key.startswith("VLLM_CPU_") for key in env)  # the CPU backend's settings are not for GPUs
    assert "LD_PRELOAD" not in env
    pid = host.check_output("systemctl show %s -p MainPID --value" % UNIT)
    environ = host.check_output("tr '\\0' '\\n' < /proc/%s/environ" % pid).splitlines()
    assert "CUDA_VISIBLE_DEVICES=0" in environ


def test_chat_answers_through_the_unit(host):
    models = json.loads(host.check_output("python3 -c %s", MODELS))
    assert [m["id"] for m in models["data"]] == [MODEL]
    reply = json.loads(host.check_output("python3 -c %s %s", CHAT, MODEL))
    text = reply["choices"][0]["message"]["content"]
    assert text.startswith("STAND-IN vllm 0.33.0 (CUDA_VISIBLE_DEVICES=0)"), text  # stand-in: fixed text


def test_nvidia_uvm_loaded_now_and_at_boot(host):
    # nvidia_driver writes the modules-load.d file and ran `modprobe nvidia-uvm` (the STAND-IN modprobe
    # marks it loaded in the fake sysfs; a container cannot load modules)
    assert host.file("/etc/modules-load.d/nvidia-uvm.conf").contains("^nvidia-uvm$")
    assert host.file("/opt/fake-sysfs/module/nvidia_uvm").is_directory


def test_gpu_unit_prepares_cuda_as_root_and_allows_only_nvidia_devices(host):
    unit = host.file("/etc/systemd/system/" + UNIT).content_string
    assert "ExecStartPre=-+/usr/bin/nvidia-modprobe -u -c=0" in unit
    assert "DevicePolicy=closed" in unit
    allowed = sorted(line for line in unit.splitlines() if line.startswith("DeviceAllow="))
    assert allowed == ["DeviceAllow=char-nvidia-caps rw", "DeviceAllow=char-nvidia-frontend rw",
                       "DeviceAllow=char-nvidia-uvm rw"]
    assert "NoNewPrivileges=yes" in unit and "ProtectKernelModules=yes" in unit  # the sandbox stays
    verify = host.run("systemd-analyze verify /etc/systemd/system/%s" % UNIT)
    assert verify.rc == 0, verify.stderr
    # the STAND-IN nvidia-modprobe (from the stand-in nvidia-open package) only logs how systemd ran it:
    # as root (the "+" prefix), with the unit's arguments, before the server (which runs as vllm)
    log = host.file("/var/log/standin-nvidia-modprobe.log").content_string.splitlines()
    assert log and set(log) == {"uid=0 args=-u -c=0"}
    assert host.check_output("systemctl show %s -p DevicePolicy --value" % UNIT) == "closed"
