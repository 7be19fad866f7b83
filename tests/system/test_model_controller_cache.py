"""A fleet fetches a Hub model once: vllm_service_model_predownload_on=controller on real systemd hosts.

Hugging Face cannot be reached from CI machines, so the hub is a STAND-IN (tests/fixtures/standin_hub.py,
the HTTP endpoints huggingface_hub uses) serving the tiny test model on the controller's loopback, where
the hosts could not reach it even if they tried. Everything else is real: llmops.vllm.model_download on
the controller for two hosts at once (huggingface_hub from the dev venv), the copy into each host's
cache, idempotence, check mode, huggingface_hub's offline look-up on a host, and finally site.yml with
real vLLM serving the copied snapshot offline (its chat probe is part of the play), pinned to the commit
the download resolved: the stand-in hub's main then moves on to a new commit, which the server follows
only through a converge and its health wait (and, with LLMOPS_TEST_BROKEN_COMMIT=1, to a broken commit,
which the rollback undoes).
"""

import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest
import yaml

import conftest
from conftest import MODEL_DIR, REPO, WHEELHOUSE, StandinHub, ansible_playbook, docker, huggingface_hub_venv, make_tls_files

MODEL = "llmops-test/fleet-cache"
TOKEN = "hf_standin_token_controller_0451"
PLAYBOOK = "tests/system/playbooks/model_predownload.yml"
REPO_DIR = "/var/lib/vllm/hf/hub/models--llmops-test--fleet-cache"
SERVED_REPO_DIR = "/var/lib/served/hf/hub/models--llmops-test--fleet-cache"  # site.yml's instance "served"


@pytest.fixture(scope="module")
def hub():
    assert (MODEL_DIR / "config.json").is_file(), "no tiny model in %s (make model)" % MODEL_DIR
    # A modest rate, so the progress loop has something to report.
    with StandinHub({MODEL: str(MODEL_DIR)}, token=TOKEN, rate=4 * 1024 * 1024) as standin:
        yield standin


@pytest.fixture(scope="module")
def hosts():
    names = ["llmops-it-cc%d-%s" % (i, uuid.uuid4().hex[:6]) for i in (1, 2)]
    try:
        for name in names:
            started = subprocess.run([str(REPO / "tools/run-test-host.sh"), name, "-v", "%s:/opt/wheelhouse:ro" % WHEELHOUSE],
                                     capture_output=True, text=True, check=False)
            assert started.returncode == 0, started.stderr[-3000:]
        test_hosts = [conftest.TestHost(name) for name in names]
        for test_host in test_hosts:
            test_host.sh("systemctl is-system-running --wait")
        yield test_hosts
    finally:
        for name in names:
            docker("rm", "-f", name, check=False)


def inventory(tmp_path, hosts, group_vars=None):
    host_entries = {h.name: {"ansible_connection": "community.docker.docker", "ansible_host": h.name,
                             "ansible_python_interpreter": "/usr/bin/python3"} for h in hosts}
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"all": {"children": {"cpu_hosts": {"hosts": host_entries, "vars": group_vars or {}}}}}))
    return path


def settings(hub, cache):
    return {
        "vllm_service_model": MODEL,
        "vllm_service_model_predownload": True,
        "vllm_service_model_predownload_on": "controller",
        "vllm_service_controller_model_cache": str(cache),
        "vllm_service_hf_endpoint": hub.url,
        "vllm_service_hf_token": TOKEN,
        "vllm_service_predownload_poll_interval": 1,
        "vllm_service_host": "127.0.0.1",  # asked from inside the host; 0.0.0.0 without a key is refused
    }


def fetches(hub):
    """File bodies the hub sent, per file: GET of a small file's resolve URL or of an LFS file's CDN URL."""
    sent = collections.Counter()
    for req in list(hub.requests):
        if req["method"] == "GET" and ("/resolve/" in req["path"] or req["path"].startswith("/cdn/")):
            sent[req["path"].rsplit("/", 1)[-1]] += 1
    return sent


def recaps(res):
    out = res.stdout + res.stderr
    found = re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.M)
    return {name: dict(changed=int(c), unreachable=int(u), failed=int(f)) for name, c, u, f in found}


def flat(res):
    """Output with the YAML callback's line wrapping undone."""
    return " ".join(res.stdout.split())


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("controller-cache") / "hf"


def test_check_mode_on_fresh_hosts_changes_nothing(hub, hosts, cache, tmp_path):
    res = ansible_playbook(PLAYBOOK, inventory(tmp_path, hosts), settings(hub, cache), ["--check"])
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "file(s) would be downloaded into %s" % cache in flat(res), res.stdout[-6000:]
    assert not cache.exists() or not list(cache.rglob("*.safetensors"))
    assert fetches(hub) == {}
    for h in hosts:
        assert h.sh("test -e /var/lib/vllm")[0] != 0


def test_two_hosts_get_the_model_while_each_file_is_fetched_once(hub, hosts, cache, tmp_path):
    res = ansible_playbook(PLAYBOOK, inventory(tmp_path, hosts), settings(hub, cache))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert TOKEN not in out
    assert "(Hugging Face, on the controller)" in out
    assert re.search(r"done \d/\d files, [\d.]+ [KM]B of [\d.]+ [KM]B \(100\.0%\)", flat(res)), out[-4000:]
    for h in hosts:
        assert recaps(res)[h.name]["changed"] >= 1

    # Every file of the model came over the wire once, for both hosts together.
    files = sorted(p.name for p in MODEL_DIR.iterdir() if p.is_file())
    sent = fetches(hub)
    assert sum(sent.values()) == len(files), sent
    assert all(count == 1 for count in sent.values()), sent

    commit = hub.commit(MODEL)
    for h in hosts:
        rc, ref = h.sh("cat %s/refs/main" % REPO_DIR)
        assert rc == 0 and ref == commit, ref
        for name in files:
            rc, digest = h.sh("sha256sum %s/snapshots/%s/%s" % (REPO_DIR, commit, name))
            assert rc == 0 and digest.split()[0] == sha256((MODEL_DIR / name).read_bytes()), (h.name, name, digest)
        rc, owners = h.sh("stat -c '%%U %%a' %s %s/snapshots/%s/config.json" % (REPO_DIR, REPO_DIR, commit))
        assert rc == 0 and owners.split() == ["vllm", "750", "vllm", "640"], owners


def test_second_run_and_check_mode_change_nothing(hub, hosts, cache, tmp_path):
    before = fetches(hub)
    again = ansible_playbook(PLAYBOOK, inventory(tmp_path, hosts), settings(hub, cache))
    assert again.returncode == 0, again.stdout[-4000:]
    assert all(r["changed"] == 0 for r in recaps(again).values()), again.stdout[-4000:]
    check = ansible_playbook(PLAYBOOK, inventory(tmp_path, hosts), settings(hub, cache), ["--check", "--diff"])
    assert check.returncode == 0, check.stdout[-4000:]
    assert all(r["changed"] == 0 for r in recaps(check).values()), check.stdout[-4000:]
    assert fetches(hub) == before


def test_check_mode_reports_the_copy_a_host_is_missing(hub, hosts, cache, tmp_path):
    """The controller's cache has the model, a host lost its copy: check mode says so and changes nothing."""
    h = hosts[1]
    rc, out = h.sh("mv %s /srv/saved-copy" % REPO_DIR)
    assert rc == 0, out
    try:
        check = ansible_playbook(PLAYBOOK, inventory(tmp_path, hosts), settings(hub, cache), ["--check", "--diff"])
        assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
        assert recaps(check)[h.name]["changed"] >= 1 and recaps(check)[hosts[0].name]["changed"] == 0, check.stdout[-4000:]
        assert h.sh("test -e %s" % REPO_DIR)[0] != 0
    finally:
        h.sh("mv /srv/saved-copy %s" % REPO_DIR)


def test_the_hosts_cache_answers_huggingface_hubs_offline_lookup(hosts, tmp_path):
    h = hosts[0]
    huggingface_hub_venv(h, "/opt/hf", tmp_path)
    rc, out = h.sh("cd /tmp && runuser -u vllm -- env HF_HOME=/var/lib/vllm/hf HF_HUB_OFFLINE=1 "
                   "HF_ENDPOINT=http://127.0.0.1:9 /opt/hf/bin/python -c "
                   "'from huggingface_hub import snapshot_download; print(snapshot_download(\"%s\"))'" % MODEL)
    assert rc == 0 and out.strip().splitlines()[-1].startswith(REPO_DIR + "/snapshots/"), out


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A private CA and the server's certificate for 127.0.0.1, made here."""
    return make_tls_files(str(tmp_path_factory.mktemp("tls")), alt_names=("IP:127.0.0.1",))


def site_yml(hub, hosts, cache, tmp_path, tls, **extra):
    """site.yml on the serving host (hosts[1]): the demo's settings with the model from the hub, served
    over HTTPS (vllm_service_tls_*; the key reaches vLLM as a systemd credential)."""
    # systemd's credentials reach a unit only through a shared /run, which systemd sets up on a host but
    # not in a container (our test hosts): make it so, as on a host (the role refuses a private one).
    rc, out = hosts[1].sh("mount --make-rshared /run")
    assert rc == 0, out
    group_vars = yaml.safe_load((REPO / "inventories/demo/group_vars/cpu_hosts.yml").read_text())
    group_vars.update(settings(hub, cache))
    group_vars.update({"vllm_service_model_src": "", "vllm_service_name": "served", "vllm_service_served_model_name": "tiny",
                       # no torch.compile: each new commit would compile afresh (its path and revision are in the key)
                       "vllm_service_extra_args": group_vars["vllm_service_extra_args"] + ["--enforce-eager"]})
    group_vars.update({"vllm_service_tls_cert_src": tls["cert"], "vllm_service_tls_key_src": tls["key"],
                       "vllm_service_tls_ca_src": tls["ca"]})
    group_vars.update(extra)
    return ansible_playbook("site.yml", inventory(tmp_path, hosts[1:], group_vars))


def chat(h):
    """A chat request from the host, over https, trusting the CA the role installed there."""
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
    rc, reply = h.sh("python3 -c 'import ssl, sys, urllib.request; print(urllib.request.urlopen(urllib.request.Request("
                     "\"https://127.0.0.1:8000/v1/chat/completions\", data=sys.argv[1].encode(), headers={"
                     "\"Content-Type\": \"application/json\"}), timeout=120, context=ssl.create_default_context("
                     "cafile=\"/etc/vllm/served.tls-ca.pem\")).read().decode())' '%s'" % body)
    assert rc == 0 and json.loads(reply)["usage"]["completion_tokens"] > 0, reply


def serving(h):
    """(main PID, the --revision it runs with, the --revision in the unit, in the last good unit)."""
    rc, pid = h.sh("systemctl show -p MainPID --value served")
    assert rc == 0 and int(pid) > 0, pid

    def revision(text):
        found = re.search(r'--revision"?[ \x00]+"?([0-9a-f]{40})', text)  # the unit file quotes each word
        return found.group(1) if found else None
    running = revision(h.sh("tr '\\0' ' ' < /proc/%s/cmdline" % pid.strip())[1])
    return (int(pid), running, revision(h.sh("systemctl show -p ExecStart --value served")[1]),
            revision(h.sh("cat /etc/vllm/last-good/served.service")[1]))


def new_commit(hub, tmp_path, name, change):
    """Push a commit to the stand-in hub's main: the tiny model with `change(directory)` applied."""
    directory = tmp_path / name
    shutil.copytree(str(MODEL_DIR), str(directory))
    change(directory)
    return hub.move(MODEL, str(directory))


def test_site_yml_serves_the_copied_snapshot_offline_without_another_fetch(hub, hosts, cache, tmp_path, tls):
    """The real chain on one host: uv, vLLM's CPU wheel (air-gapped), the copy, vLLM serving it over HTTPS
    (a private CA made here; the key reaches vLLM as a systemd credential), the health wait and chat
    probe over https verified with the CA."""
    before = fetches(hub)
    res = site_yml(hub, hosts, cache, tmp_path, tls)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert TOKEN not in out
    assert fetches(hub) == before  # the controller's cache served this deployment
    h = hosts[1]
    rc, env = h.sh("cat /etc/vllm/served.env")
    assert rc == 0 and 'HF_HUB_OFFLINE="1"' in env, env
    rc, unit = h.sh("systemctl show -p ExecStart --value served")
    assert "--model %s " % MODEL in unit, unit
    # Pinned: the server runs the commit main resolved to, whatever refs/main says later.
    _pid, running, in_unit, good = serving(h)
    assert running == in_unit == good == hub.commit(MODEL), (running, in_unit, good)
    # TLS: root-owned files, the key 0600 and unreadable for the service user, who gets it only as a
    # credential (systemd copies it into the unit's credentials directory, %d).
    rc, modes = h.sh("stat -c '%U %G %a %n' /etc/vllm/served.tls.crt /etc/vllm/served.tls-ca.pem "
                     "/etc/vllm/secrets/served.tls.key")
    assert modes.split("\n")[:3] == ["root root 644 /etc/vllm/served.tls.crt", "root root 644 /etc/vllm/served.tls-ca.pem",
                                     "root root 600 /etc/vllm/secrets/served.tls.key"], modes
    assert h.sh("runuser -u vllm -- cat /etc/vllm/secrets/served.tls.key")[0] != 0
    rc, unit_file = h.sh("systemctl cat served")
    assert "LoadCredential=tls.key:/etc/vllm/secrets/served.tls.key" in unit_file, unit_file
    assert '"--ssl-certfile" "%d/tls.crt" "--ssl-keyfile" "%d/tls.key"' in unit_file, unit_file
    rc, cred = h.sh("runuser -u vllm -- head -c 10 /run/credentials/served.service/tls.key")
    assert rc == 0 and cred == "-----BEGIN", cred
    assert "BEGIN CERTIFICATE" not in out and open(tls["key"]).read().splitlines()[5] not in out
    # The play's own health wait and chat probe (post_tasks) have answered over https; ask once more, from
    # the host, trusting the CA the role installed there (chat), and once over plain http (no answer).
    chat(h)
    rc, plain = h.sh("python3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:8000/health\", timeout=30)'")
    assert rc != 0 and ("RemoteDisconnected" in plain or "Connection reset" in plain), plain


def test_a_new_commit_on_the_hub_is_served_after_a_converge(hub, hosts, cache, tmp_path, tls):
    """main moves on: the next converge pins the new commit in the unit, restarts and waits for health."""
    h = hosts[1]
    old_pid, old, _unit, _good = serving(h)
    new = new_commit(hub, tmp_path, "model-b", lambda d: (d / "NOTES.md").write_text("commit B of the test model\n"))
    res = site_yml(hub, hosts, cache, tmp_path, tls)
    assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
    assert recaps(res)[h.name]["changed"] >= 1
    pid, running, in_unit, good = serving(h)
    assert pid != old_pid and running == in_unit == good == new != old, (running, in_unit, good, new, old)
    assert h.sh("cat %s/refs/main" % SERVED_REPO_DIR)[1] == new
    assert h.sh("test -f %s/snapshots/%s/config.json" % (SERVED_REPO_DIR, old))[0] == 0  # kept: what a rollback runs
    chat(h)


@pytest.mark.skipif(os.environ.get("LLMOPS_TEST_BROKEN_COMMIT") != "1",
                    reason="two more vLLM starts (a failing one and the rollback's): LLMOPS_TEST_BROKEN_COMMIT=1 runs it")
def test_a_broken_commit_is_rolled_back_and_a_restart_keeps_the_pin(hub, hosts, cache, tmp_path, tls):
    """main moves to a commit vLLM cannot load: the converge fails its health wait and restores the last good
    unit, pinned to the earlier commit, which answers again although refs/main now names the broken one
    (the rollback's start came after the cache moved on: a restart does not pick up new weights)."""
    h = hosts[1]
    _pid, good_commit, _unit, _good = serving(h)

    def break_config(directory):
        config = json.loads((directory / "config.json").read_text())
        (directory / "config.json").write_text(json.dumps(dict(config, model_type="llmops-no-such-model")))
    broken = new_commit(hub, tmp_path, "model-c", break_config)
    res = site_yml(hub, hosts, cache, tmp_path, tls, vllm_service_max_restarts=0)  # fail at the first crash
    out = flat(res)
    assert res.returncode != 0, out[-4000:]
    assert "Rolled back to the last good configuration" in out and "which answers again" in out, out[-6000:]
    assert h.sh("cat %s/refs/main" % SERVED_REPO_DIR)[1] == broken  # the cache moved on ...
    _pid, running, in_unit, good = serving(h)
    assert running == in_unit == good == good_commit != broken, (running, in_unit, good, broken)  # ... the server did not
    chat(h)
