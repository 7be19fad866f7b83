"""Runs after the other verify tests (file order): it changes the deployment.

1. Secrets: a -vvv re-converge that turns on an API key and an HF token. Neither value may appear
   in the output; both land only in the root-owned 0600 secrets file (never in the last good
   copy); the API then requires the key. Then a key rotation together with a breaking change:
   the rollback restores the configuration but keeps the new key.
2. A link the service user planted in its own state directory: the next converge refuses it by
   name, and root neither chowns nor writes the link's target.
3. Fault: the vLLM process killed with SIGKILL comes back healthy without intervention
   (systemd Restart=always); the recovery time is printed for benchmarks/RESULTS.md.
"""

import http.client
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("cpu_hosts")

REPO = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
PUBLISHED = "http://127.0.0.1:18000"
API_KEY = "sk-molecule-7f3a9c1e"
HF_TOKEN = "hf_moleculeTOKEN5b2d8e"
NEW_API_KEY = "sk-molecule-rotated-42d0b6"


def get(path, key=None, timeout=10):
    """HTTP status of a GET, or None when no HTTP answer came (refused, reset, timed out)."""
    req = urllib.request.Request(PUBLISHED + path)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, http.client.HTTPException):
        return None


def converge(tmp_path, extra_vars, *args, timeout=900):
    """site.yml against the scenario's inventory; secrets go in a vars file, never on the command line.
    Returns (rc, stdout + stderr)."""
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(extra_vars))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run(
        ["ansible-playbook", *args, "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(REPO / "site.yml"),
         "-e", "@%s" % extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return res.returncode, res.stdout + res.stderr


def test_secrets_stay_out_of_verbose_output(host, tmp_path):
    rc, out = converge(tmp_path, {"vllm_service_api_key": API_KEY, "vllm_service_hf_token": HF_TOKEN}, "-vvv")
    assert rc == 0, out[-5000:]
    assert len(out) > 10000  # really verbose
    assert API_KEY not in out
    assert HF_TOKEN not in out

    secrets_file = host.file("/etc/vllm/secrets/vllm.env")
    assert secrets_file.mode == 0o600 and secrets_file.user == "root"
    assert host.file("/etc/vllm/secrets").mode == 0o700
    content = host.run("cat /etc/vllm/secrets/vllm.env").stdout
    assert 'VLLM_API_KEY="%s"' % API_KEY in content
    assert 'HF_TOKEN="%s"' % HF_TOKEN in content
    # nowhere else in /etc: not the unit, not the env file, not the last good copies
    for secret in (API_KEY, HF_TOKEN):
        assert host.run("grep -rl %s /etc" % secret).stdout.split() == ["/etc/vllm/secrets/vllm.env"]
    assert host.file("/etc/vllm/last-good").mode == 0o700

    assert get("/v1/models") == 401
    assert get("/v1/models", key=API_KEY) == 200


def test_a_rollback_keeps_the_rotated_key(host, tmp_path):
    """A leaked key is rotated in the same run as a change that breaks the server: the rollback
    brings back the last good configuration, not the old key."""
    rc, out = converge(tmp_path, {
        "vllm_service_api_key": NEW_API_KEY, "vllm_service_hf_token": HF_TOKEN,
        # vLLM refuses an unknown flag at start: a crash loop, then the rollback
        "vllm_service_extra_args": ["--max-model-len", "512", "--no-such-flag"]}, timeout=1200)
    assert rc != 0, out[-3000:]
    assert "Rolled back to the last good configuration" in out, out[-3000:]
    assert NEW_API_KEY not in out and API_KEY not in out
    assert "--no-such-flag" not in host.file("/etc/systemd/system/vllm.service").content_string
    assert 'VLLM_API_KEY="%s"' % NEW_API_KEY in host.run("cat /etc/vllm/secrets/vllm.env").stdout
    assert get("/v1/models", key=NEW_API_KEY) == 200
    assert get("/v1/models", key=API_KEY) == 401


def test_a_link_planted_by_the_service_user_is_refused(host, tmp_path):
    """Code running as the service user (a model's remote code, a vLLM bug) can replace a directory
    in its state dir with a link; root must not follow it (chown it, write into it)."""
    host.run("install -d -o root -g root -m 0755 /srv/root-only")
    plant = host.run("runuser -u vllm -- sh -c 'mv /var/lib/vllm/cache /var/lib/vllm/cache.real "
                     "&& ln -s /srv/root-only /var/lib/vllm/cache'")
    assert plant.rc == 0, plant.stderr
    try:
        rc, out = converge(tmp_path, {"vllm_service_api_key": API_KEY, "vllm_service_hf_token": HF_TOKEN})
        assert rc != 0, out[-3000:]
        assert "/var/lib/vllm/cache" in out and "already exists as a link" in out, out[-3000:]
        target = host.file("/srv/root-only")
        assert target.user == "root" and target.group == "root" and target.mode == 0o755
        assert host.run("ls -A /srv/root-only").stdout.strip() == ""
    finally:
        host.run("rm /var/lib/vllm/cache && mv /var/lib/vllm/cache.real /var/lib/vllm/cache")
    assert host.file("/var/lib/vllm/cache").is_directory and get("/health") == 200


def kill_and_time_recovery(host, pid, what, notice_s):
    """SIGKILL pid, wait until /health stops answering (at most notice_s), then until it answers
    again (at most 600 s); returns (the last /health status, seconds from the kill)."""
    host.run("kill -9 %s" % pid)
    start = time.monotonic()
    while get("/health") == 200 and time.monotonic() - start < notice_s:
        time.sleep(0.2)  # until the kill is noticed
    status = None
    while time.monotonic() < start + 600:
        status = get("/health", timeout=5)
        if status == 200:
            break
        time.sleep(1)
    recovery = time.monotonic() - start
    print("%s recovery: healthy again after %.1f s" % (what, recovery))
    return status, recovery


def test_sigkill_recovers_without_intervention(host):
    before = int(host.check_output("systemctl show -p NRestarts --value vllm"))
    pid = host.check_output("systemctl show -p MainPID --value vllm")
    status = kill_and_time_recovery(host, pid, "SIGKILL", 30)[0]
    assert status == 200
    assert int(host.check_output("systemctl show -p NRestarts --value vllm")) == before + 1
    assert host.check_output("systemctl show -p MainPID --value vllm") != pid


def test_engine_death_recovers_without_intervention(host):
    """vLLM's API server exits with status 0 when its engine process dies: the unit must restart
    on that too (Restart=always), not stay dead (it did under Restart=on-failure)."""
    before = int(host.check_output("systemctl show -p NRestarts --value vllm"))
    main_pid = host.check_output("systemctl show -p MainPID --value vllm")
    engine = host.check_output("pgrep -f -o VLLM::EngineCore || pgrep -f -o EngineCore")
    assert engine and engine != main_pid
    # (the API server takes a while to notice its engine is gone)
    status = kill_and_time_recovery(host, engine, "engine death", 60)[0]
    assert status == 200, host.check_output("journalctl -u vllm -n 30 --no-pager")
    assert int(host.check_output("systemctl show -p NRestarts --value vllm")) == before + 1
    assert host.check_output("systemctl show -p MainPID --value vllm") != main_pid


def test_the_unit_stops_a_crash_loop_and_caps_memory_priority(host):
    unit = host.file("/etc/systemd/system/vllm.service").content_string
    assert "Restart=always" in unit
    assert int(host.check_output("systemctl show -p StartLimitBurst --value vllm")) == 10
    assert host.check_output("systemctl show -p StartLimitIntervalUSec --value vllm") == "5min"
    assert int(host.check_output("systemctl show -p OOMScoreAdjust --value vllm")) == 500
