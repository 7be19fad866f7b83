"""vllm_service's model pre-download (tasks/download.yml) on a real systemd host.

Hugging Face cannot be reached from CI machines, so the hub is a STAND-IN (tests/fixtures/standin_hub.py,
standard library only) running on the host itself and serving a generated model repository behind a
bearer token, at a limited rate so the progress reports have something to show. The rest is real: the
service user, llmops.vllm.model_download run asynchronously as that user in a venv with the
huggingface_hub version vLLM's wheelhouse ships, the progress loop, check mode, idempotence, and the
offline look-up vLLM makes with HF_HUB_OFFLINE=1.
"""

import re
import subprocess
import uuid

import pytest

import conftest
from conftest import REPO, WHEELHOUSE, ansible_playbook, docker, huggingface_hub_venv, make_tls_files

PLAYBOOK = "tests/system/playbooks/model_predownload.yml"
MODEL = "llmops-test/predownload"
TOKEN = "hf_standin_token_0123456789"
SNAPSHOTS = "/var/lib/vllm/hf/hub/models--llmops-test--predownload/snapshots"


@pytest.fixture(scope="module")
def host():
    name = "llmops-it-dl-%s" % uuid.uuid4().hex[:8]
    started = subprocess.run([str(REPO / "tools/run-test-host.sh"), name, "-v", "%s:/opt/wheelhouse:ro" % WHEELHOUSE],
                             capture_output=True, text=True, check=False)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        test_host = conftest.TestHost(name)
        test_host.sh("systemctl is-system-running --wait")
        # The stand-in hub on the host: a config, a tokenizer config and 24 MiB of "weights", at 4 MiB/s.
        docker("cp", str(REPO / "tests/fixtures/standin_hub.py"), "%s:/srv/standin_hub.py" % name)
        rc, out = test_host.sh(
            "mkdir -p /srv/model && echo '{\"model_type\": \"qwen2\"}' > /srv/model/config.json"
            " && echo '{\"model_max_length\": 64}' > /srv/model/tokenizer_config.json"
            " && head -c 25165824 /dev/urandom > /srv/model/model.safetensors")
        assert rc == 0, out
        docker("exec", "-d", name, "sh", "-c",
               "python3 /srv/standin_hub.py --repo %s=/srv/model --port 8090 --token %s --rate 4194304"
               " > /srv/hub.log 2>&1" % (MODEL, TOKEN))
        rc, out = test_host.sh("for i in $(seq 50); do grep -q url /srv/hub.log && exit 0; sleep 0.2; done; "
                               "cat /srv/hub.log; exit 1")
        assert rc == 0, out
        yield test_host
    finally:
        docker("rm", "-f", name, check=False)


def run(host, tmp_path, check=False, **overrides):
    extra = {
        "vllm_service_model": MODEL,
        "vllm_service_model_predownload": True,
        "vllm_service_hf_endpoint": "http://127.0.0.1:8090",
        "vllm_service_hf_token": TOKEN,
        "vllm_service_venv_path": "/opt/vllm/venv",
        "vllm_service_predownload_poll_interval": 1,
    }
    extra.update(overrides)
    return ansible_playbook(PLAYBOOK, host.inventory(tmp_path), extra, ["--check"] if check else [])


def recap(res):
    match = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", res.stdout)
    assert match, res.stdout[-3000:] + res.stderr[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


def test_check_mode_on_a_fresh_host_says_what_would_happen(host, tmp_path):
    res = run(host, tmp_path, check=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "would be downloaded into /var/lib/vllm/hf" in res.stdout
    assert host.sh("test -e /var/lib/vllm")[0] != 0  # check mode created nothing


def test_download_with_progress_then_idempotent(host, tmp_path):
    huggingface_hub_venv(host, "/opt/vllm/venv", tmp_path)  # the venv the download runs in (vLLM's)

    first = run(host, tmp_path)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-5000:]
    assert recap(first)["changed"] >= 1
    assert re.search(r"%s@main \(Hugging Face\): downloading \d/3 files" % MODEL, first.stdout), first.stdout[-5000:]
    assert re.search(r"done 3/3 files, 24\.\d+ MB of 24\.\d+ MB \(100\.0%\)", first.stdout), first.stdout[-5000:]
    assert "downloaded 3 files" in first.stdout
    assert TOKEN not in output

    # The files are the service user's, where vLLM (HF_HOME=/var/lib/vllm/hf) looks.
    rc, out = host.sh("stat -c %%U %s/*/model.safetensors" % SNAPSHOTS)
    assert rc == 0 and out.strip() == "vllm", out
    # The server would be pinned to the commit main resolved to (the role's unit gets the same argv).
    rc, commit = host.sh("ls %s" % SNAPSHOTS)
    assert rc == 0 and re.fullmatch(r"[0-9a-f]{40}", commit.strip()), commit
    assert re.search(r"pinned argv: \S+ serve --model %s .*--revision %s " % (MODEL, commit.strip()),
                     " ".join(first.stdout.split())), first.stdout[-3000:]
    # vLLM's offline look-up (HF_HUB_OFFLINE=1), as the service user: no hub involved.
    rc, out = host.sh("cd /tmp && runuser -u vllm -- env HF_HOME=/var/lib/vllm/hf HF_HUB_OFFLINE=1 "
                      "HF_ENDPOINT=http://127.0.0.1:9 /opt/vllm/venv/bin/python -c "
                      "'from huggingface_hub import snapshot_download; print(snapshot_download(\"%s\"))'" % MODEL)
    assert rc == 0 and out.strip().splitlines()[-1].startswith(SNAPSHOTS + "/"), out

    second = run(host, tmp_path)
    assert second.returncode == 0, second.stdout[-4000:]
    assert recap(second)["changed"] == 0, second.stdout[-4000:]
    assert "is complete in the cache" in second.stdout

    check = run(host, tmp_path, check=True)
    assert check.returncode == 0, check.stdout[-4000:]
    assert recap(check)["changed"] == 0, check.stdout[-4000:]


def test_check_mode_reports_a_missing_snapshot(host, tmp_path):
    rc, out = host.sh("mv %s /srv/snapshots.saved" % SNAPSHOTS)
    assert rc == 0, out
    try:
        res = run(host, tmp_path, check=True)
        assert res.returncode == 0, res.stdout[-4000:]
        assert recap(res)["changed"] == 1
        assert "would download 3 of 3 files" in res.stdout
        assert host.sh("test -e %s" % SNAPSHOTS)[0] != 0
    finally:
        host.sh("mv /srv/snapshots.saved %s" % SNAPSHOTS)


def test_a_refused_token_fails_clearly(host, tmp_path):
    res = run(host, tmp_path, vllm_service_hf_token="hf_not_the_token")
    output = res.stdout + res.stderr
    assert res.returncode != 0
    assert "rejected the token" in output, output[-4000:]
    assert "hf_not_the_token" not in output and TOKEN not in output


def test_a_hub_behind_a_private_ca_needs_vllm_service_ca_bundle(host, tmp_path):
    """As behind a TLS-intercepting proxy: the (stand-in) Hub's certificate is signed by a CA the host's
    trust store does not hold. Refused without vllm_service_ca_bundle, with a message pointing at the CA
    bundle; downloaded with it."""
    huggingface_hub_venv(host, "/opt/vllm/venv", tmp_path)  # the venv the download runs in (vLLM's)
    tls = make_tls_files(str(tmp_path))
    host.sh("mkdir -p /srv/tls")
    for path in tls.values():
        docker("cp", path, "%s:/srv/tls/" % host.name)
    docker("exec", "-d", host.name, "sh", "-c",
           "python3 /srv/standin_hub.py --repo llmops-test/behind-tls=/srv/model --port 8443 --token %s"
           " --tls-cert /srv/tls/server.pem --tls-key /srv/tls/server.key > /srv/hub-tls.log 2>&1" % TOKEN)
    rc, out = host.sh("for i in $(seq 50); do grep -q url /srv/hub-tls.log && exit 0; sleep 0.2; done; "
                      "cat /srv/hub-tls.log; exit 1")
    assert rc == 0, out
    behind_tls = {"vllm_service_model": "llmops-test/behind-tls", "vllm_service_hf_endpoint": "https://127.0.0.1:8443"}

    refused = run(host, tmp_path, **behind_tls)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in output and "vllm_service_ca_bundle" in output, output[-4000:]

    fetched = run(host, tmp_path, vllm_service_ca_bundle="/srv/tls/ca.pem", **behind_tls)
    assert fetched.returncode == 0, fetched.stdout[-4000:] + fetched.stderr[-2000:]
    assert "downloaded 3 files" in fetched.stdout
    rc, out = host.sh("ls /var/lib/vllm/hf/hub/models--llmops-test--behind-tls/snapshots/*/model.safetensors")
    assert rc == 0, out
