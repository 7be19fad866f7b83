"""vllm_service's container mode, for real, on this machine's Docker engine.

The image is tools/vllm-cpu-image.sh's local CPU vLLM build, a stand-in for vllm/vllm-openai(-cpu):
our machines cannot pull images. It reaches the engine the way it reaches a host without a registry:
under a tag of its own, saved with `docker save` and removed from the engine, then pushed and loaded
by the role (vllm_service_image_archive_src), once. Everything else is real: site.yml's CPU play in container mode
against localhost, the container serving the tiny model over HTTPS (vllm_service_tls_*, a private CA
made here), idempotence, the API key, probe.yml over https, and changes that do not come up (bad
arguments, a broken image tag) rolled back to the last good container.
"""

import json
import os
import re
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import MODEL_DIR, REPO, StandinHub, ansible_playbook, docker, make_tls_files

NAME = "llmops-it-vllm-ct-%s" % uuid.uuid4().hex[:6]  # unique: two runs on one machine must not share it
PORT = 18100
API_KEY = "ct-test-key-0451"


@pytest.fixture(scope="module")
def standin_image():
    res = subprocess.run([str(REPO / "tools/vllm-cpu-image.sh")], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.strip().splitlines()[-1]


# The role's TLS files on the host (this machine, here).
TLS_FILES = ["/etc/vllm/%s.tls.crt" % NAME, "/etc/vllm/%s.tls-ca.pem" % NAME, "/etc/vllm/secrets/%s.tls.key" % NAME]


@pytest.fixture(scope="module")
def pushed_image(standin_image, tmp_path_factory):
    """The stand-in plus one empty layer (an image ID of its own) under a tag of its own, saved to an
    archive and removed from the engine: only the role's push and load can bring it back (no registry
    is reachable from here, so nothing could pull it)."""
    tag = "llmops-vllm/vllm-openai-cpu-standin:pushed-%s" % NAME.rsplit("-", 1)[-1]
    builder = "llmops-pushed-fixture-%s" % NAME.rsplit("-", 1)[-1]
    docker("create", "--name", builder, standin_image)
    try:
        docker("commit", "-c", "LABEL llmops.test=pushed-archive", builder, tag)
    finally:
        docker("rm", "-f", builder, check=False)
    archive = tmp_path_factory.mktemp("image") / "vllm-openai-cpu.tar"
    image_id = docker("image", "inspect", "-f", "{{.Id}}", tag).stdout.strip()
    docker("save", "-o", str(archive), tag)
    docker("rmi", tag)
    assert docker("image", "inspect", tag, check=False).returncode != 0
    yield SimpleNamespace(tag=tag, archive=str(archive), id=image_id)
    docker("rmi", tag, check=False)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A private CA and a certificate it signed for 127.0.0.1 (where the host and the controller ask)."""
    return make_tls_files(str(tmp_path_factory.mktemp("tls")), alt_names=("IP:127.0.0.1",))


@pytest.fixture(scope="module")
def deployment(pushed_image, tls, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ct")
    inventory = tmp / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"cpu_hosts": {"hosts": {"localhost": {
        "ansible_connection": "local",
        # the controller's venv has the Docker SDK community.docker needs
        "ansible_python_interpreter": os.path.join(REPO, ".venv/bin/python"),
    }}}}}}))
    extra = {
        "vllm_service_mode": "container",
        "vllm_service_name": NAME,
        "vllm_service_image": pushed_image.tag,
        "vllm_service_image_archive_src": pushed_image.archive,
        "vllm_service_image_pull": "never",
        "vllm_service_state_dir": str(tmp / "state"),
        "vllm_service_rollback_dir": str(tmp / "last-good"),
        "vllm_service_host": "127.0.0.1",
        "vllm_service_port": PORT,
        "vllm_service_model_src": str(MODEL_DIR),
        "vllm_service_served_model_name": "tiny",
        "vllm_service_ipc_host": False,
        "vllm_service_shm_size": "2g",
        "vllm_service_cpu_kvcache_space_gib": 1,
        "vllm_service_extra_args": ["--max-model-len", "512", "--enforce-eager"],
        "vllm_service_api_key": API_KEY,
        "vllm_service_health_timeout": 600,
        # the host's trust store (which trusts this machine's TLS-intercepting egress), for hub downloads
        "vllm_service_ca_bundle": "/etc/ssl/certs/ca-certificates.crt",
        # HTTPS: every start below serves TLS; the role's health wait and chat check verify the CA.
        "vllm_service_tls_cert_src": tls["cert"],
        "vllm_service_tls_key_src": tls["key"],
        "vllm_service_tls_ca_src": tls["ca"],
    }
    runs = [ansible_playbook("site.yml", inventory, extra), ansible_playbook("site.yml", inventory, extra)]
    try:
        yield SimpleNamespace(runs=runs, inventory=inventory, extra=extra, tls=tls, image=pushed_image)
    finally:
        docker("rm", "-f", NAME, check=False)
        # the container's settings file and TLS files the role keeps on the host (this machine, here)
        for path in ["/etc/vllm/%s.container.json" % NAME] + TLS_FILES:
            Path(path).unlink(missing_ok=True)


def trusting(ca):
    """An SSL context that trusts the test CA only (what a client given vllm_service_tls_ca_src does)."""
    return ssl.create_default_context(cafile=ca)


def recap(run):
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-5000:]
    line = [l for l in out.splitlines() if l.startswith("localhost") and "ok=" in l][-1]
    return dict(kv.split("=") for kv in line.split(":", 1)[1].split())


def test_first_run_deploys_and_second_changes_nothing(deployment):
    first, second = deployment.runs
    assert int(recap(first)["changed"]) > 0
    assert recap(second)["changed"] == "0"


def task_result(run, task):
    """The first result line after a task's header (ok / changed / skipping)."""
    out = run.stdout
    header = out.index("TASK [llmops.vllm.vllm_service : %s]" % task)
    return re.search(r"^(ok|changed|skipping): \[localhost\]", out[header:], re.M).group(1)


def test_the_image_was_pushed_and_loaded_once(deployment):
    """No registry: the first run pushed the archive and loaded it, the second found the image by ID and
    pushed nothing. The container runs that image, and the pushed copy is gone from the host."""
    first, second = deployment.runs
    assert task_result(first, "Push the image archive from the controller") == "changed"
    assert task_result(first, "Load the images into Docker") == "changed"
    assert task_result(second, "Push the image archive from the controller") == "skipping"
    info = json.loads(docker("inspect", NAME).stdout)[0]
    assert info["Image"] == deployment.image.id and info["Config"]["Image"] == deployment.image.tag
    assert not Path("/var/lib/llmops-vllm/images/vllm-openai-cpu.tar").exists()
    assert oct(Path("/var/lib/llmops-vllm/images").stat().st_mode & 0o777) == "0o700"


def test_container_runs_with_the_settings(deployment):
    info = json.loads(docker("inspect", NAME).stdout)[0]
    assert info["State"]["Running"]
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert "SYS_NICE" in (info["HostConfig"]["CapAdd"] or [])
    assert info["HostConfig"]["ShmSize"] == 2 * 1024 ** 3
    assert info["HostConfig"]["PortBindings"]["8000/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]
    assert any(m["Destination"] == "/models" and not m["RW"] for m in info["Mounts"])
    assert any(m["Source"] == "/etc/ssl/certs/ca-certificates.crt" and m["Destination"] == "/etc/llmops-vllm/ca-bundle.pem"
               and not m["RW"] for m in info["Mounts"])
    assert "SSL_CERT_FILE=/etc/llmops-vllm/ca-bundle.pem" in info["Config"]["Env"]
    # logs rotate (vllm_service_container_log_max_size / _max_files)
    assert info["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "50m", "max-file": "3"}}


def test_secret_not_in_ansible_output(deployment):
    for run in deployment.runs:
        assert API_KEY not in run.stdout + run.stderr


def test_api_key_is_enforced_and_chat_works(deployment):
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}).encode()
    url = "https://127.0.0.1:%d/v1/chat/completions" % PORT
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=60, context=trusting(deployment.tls["ca"]))
    assert err.value.code == 401
    req.add_header("Authorization", "Bearer " + API_KEY)
    with urllib.request.urlopen(req, timeout=120, context=trusting(deployment.tls["ca"])) as resp:
        reply = json.load(resp)
    assert reply["usage"]["completion_tokens"] > 0


def chat_with_key(deployment):
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}).encode()
    req = urllib.request.Request("https://127.0.0.1:%d/v1/chat/completions" % PORT, data=body,
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + API_KEY})
    with urllib.request.urlopen(req, timeout=120, context=trusting(deployment.tls["ca"])) as resp:
        return json.load(resp)


def test_the_server_speaks_only_https_verified_by_the_private_ca(deployment):
    """The role's own health wait and chat check passed above over https with the CA (the server speaks
    nothing else); here: the files on the host, the read-only mounts, and what clients get."""
    for path, mode in zip(TLS_FILES, ("0o644", "0o644", "0o600")):
        info = os.stat(path)
        assert (info.st_uid, info.st_gid, oct(info.st_mode & 0o777)) == (0, 0, mode), path
    assert Path(TLS_FILES[0]).read_bytes() == Path(deployment.tls["cert"]).read_bytes()
    container = json.loads(docker("inspect", NAME).stdout)[0]
    mounts = {m["Destination"]: m for m in container["Mounts"]}
    assert mounts["/etc/llmops-vllm/tls/tls.key"]["Source"] == TLS_FILES[2] and not mounts["/etc/llmops-vllm/tls/tls.key"]["RW"]
    assert not mounts["/etc/llmops-vllm/tls/tls.crt"]["RW"]
    assert container["Config"]["Cmd"][-4:] == ["--ssl-certfile", "/etc/llmops-vllm/tls/tls.crt",
                                               "--ssl-keyfile", "/etc/llmops-vllm/tls/tls.key"]
    health = "https://127.0.0.1:%d/health" % PORT
    with urllib.request.urlopen(health, timeout=30, context=trusting(deployment.tls["ca"])) as resp:
        assert resp.status == 200
    # the system's trust store does not know the private CA: refused, not silently accepted
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(health, timeout=30)
    # plain http to the port gets no answer
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)) as err:
        urllib.request.urlopen("http://127.0.0.1:%d/health" % PORT, timeout=30)
    assert not isinstance(err.value, urllib.error.HTTPError)
    # the key never appears in the role's output (nor its checksum: private_file returns only "changed")
    key_line = Path(deployment.tls["key"]).read_text().splitlines()[5]
    for run in deployment.runs:
        assert key_line not in run.stdout + run.stderr


def test_probe_yml_asks_over_https_with_the_ca_from_the_controller(deployment):
    res = ansible_playbook("playbooks/probe.yml", deployment.inventory, dict(deployment.extra, probe_hosts="cpu_hosts"))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "https://127.0.0.1:%d" % PORT in out  # the loop label: the endpoint's public_url
    assert re.search(r"%s: tiny answered in [0-9.]+ ms with \d+ tokens" % NAME, " ".join(out.split())), out[-3000:]
    assert API_KEY not in out


def test_benchmark_and_prometheus_targets_use_https(deployment, tmp_path):
    """The other jobs over the instance's endpoints: benchmark.yml from the host (here this machine) with
    the CA the role installed there, and Prometheus targets that say https. A minimal load (2 requests)."""
    extra = dict(deployment.extra, benchmark_hosts="cpu_hosts", benchmark_num_requests=2, benchmark_concurrency=1,
                 benchmark_input_len=8, benchmark_output_len=4, benchmark_num_warmups=0, benchmark_chart=False,
                 benchmark_artifacts_dir=str(tmp_path / "bench"))
    res = ansible_playbook("playbooks/benchmark.yml", deployment.inventory, extra)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    (row,) = json.loads((tmp_path / "bench" / "benchmark.json").read_text())["hosts"]
    assert row["status"] == "ok" and row["completed"] == 2 and row["errors"] == 0, row
    # the URL it loaded, and /version read over https by the playbook's uri task (with the CA)
    assert row["info"]["url"] == "https://127.0.0.1:%d" % PORT and row["info"]["vllm_version"], row
    targets = tmp_path / "targets.json"
    res = ansible_playbook("playbooks/prometheus_targets.yml", deployment.inventory,
                           dict(deployment.extra, prometheus_targets_hosts="cpu_hosts", prometheus_targets_file=str(targets)))
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    (target,) = json.loads(targets.read_text())
    assert target["targets"] == ["127.0.0.1:%d" % PORT] and target["labels"]["__scheme__"] == "https"


def test_last_good_settings_are_private(deployment):
    good = deployment.inventory.parent / "last-good" / (NAME + ".container.json")
    assert oct(good.stat().st_mode & 0o777) == "0o600"
    assert oct(good.parent.stat().st_mode & 0o777) == "0o700"
    # the secrets are not saved with the settings: a rollback runs with the current (rotated) key
    assert API_KEY not in good.read_text() and "secret_env" not in good.read_text()


def test_a_changed_staged_model_restarts_the_container(deployment, tmp_path):
    """The staged model changed on the controller (here: one more file), nothing else: the container
    must restart to load it (systemd mode always did; container mode did not)."""
    import shutil
    src = tmp_path / "v2" / MODEL_DIR.name
    shutil.copytree(MODEL_DIR, src)
    (src / "NOTES.md").write_text("a new revision of the staged model\n")
    before = json.loads(docker("inspect", NAME).stdout)[0]["State"]["StartedAt"]
    res = ansible_playbook("site.yml", deployment.inventory, dict(deployment.extra, vllm_service_model_src=str(src)))
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    after = json.loads(docker("inspect", NAME).stdout)[0]["State"]
    assert after["Running"] and after["StartedAt"] != before
    assert chat_with_key(deployment)["usage"]["completion_tokens"] > 0


def test_bad_arguments_fail_fast_and_roll_back(deployment):
    """A server that cannot start (bad argument) is reported as a crash loop with its log, long
    before the health timeout (600 s here), and the last good container serves again."""
    extra = dict(deployment.extra, vllm_service_extra_args=["--max-model-len", "not-a-number"])
    res = ansible_playbook("site.yml", deployment.inventory, extra)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert re.search(r"crash loop|service is (exited|dead)", out), out[-3000:]
    assert "max-model-len" in out  # vLLM's own complaint, from the container log
    assert "Rolled back to the last good container" in out, out[-3000:]
    assert API_KEY not in out
    assert chat_with_key(deployment)["usage"]["completion_tokens"] > 0


@pytest.fixture
def broken_image(standin_image):
    """The stand-in image with an entrypoint that exits at once: a deliberately broken image tag."""
    tag = "llmops-vllm/vllm-openai-cpu-standin:broken-fixture"
    docker("rm", "-f", "llmops-broken-fixture", check=False)
    docker("create", "--name", "llmops-broken-fixture", standin_image)
    try:
        docker("commit", "-c", 'ENTRYPOINT ["/bin/sh", "-c", "echo llmops test fixture: deliberately broken image >&2; exit 3"]',
               "llmops-broken-fixture", tag)
    finally:
        docker("rm", "-f", "llmops-broken-fixture", check=False)
    yield tag
    docker("rmi", tag, check=False)


def test_upgrade_to_a_broken_image_rolls_back(deployment, broken_image):
    extra = dict(deployment.extra, vllm_service_image=broken_image, vllm_service_image_archive_src="")
    res = ansible_playbook("site.yml", deployment.inventory, extra)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "deliberately broken image" in out, out[-3000:]
    assert "Rolled back to the last good container (image %s)" % deployment.image.tag in out, out[-3000:]
    assert API_KEY not in out
    info = json.loads(docker("inspect", NAME).stdout)[0]
    assert info["Config"]["Image"] == deployment.image.tag and info["State"]["Running"]
    assert chat_with_key(deployment)["usage"]["completion_tokens"] > 0


def test_a_hub_model_from_the_controllers_cache_is_served_offline(deployment, tmp_path):
    """vllm_service_model_predownload_on=controller in container mode (where a download on the host is not
    possible): a Hub model fetched into the controller's cache, copied into the mounted Hugging Face cache
    and served with the hub offline. The Hub is a STAND-IN on the controller's loopback, which the
    container could not reach anyway."""
    repo_id = "llmops-test/ct-cache"
    with StandinHub({repo_id: str(MODEL_DIR)}) as hub:
        extra = dict(deployment.extra, vllm_service_model=repo_id, vllm_service_model_src="",
                     vllm_service_model_predownload=True, vllm_service_model_predownload_on="controller",
                     vllm_service_controller_model_cache=str(tmp_path / "hf"), vllm_service_hf_endpoint=hub.url)
        res = ansible_playbook("site.yml", deployment.inventory, extra)
        commit = hub.commit(repo_id)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert API_KEY not in out
    snapshot = Path(extra["vllm_service_state_dir"]) / "hf/hub/models--llmops-test--ct-cache/snapshots" / commit
    assert (snapshot / "model.safetensors").read_bytes() == (MODEL_DIR / "model.safetensors").read_bytes()
    info = json.loads(docker("inspect", NAME).stdout)[0]
    assert "HF_HUB_OFFLINE=1" in info["Config"]["Env"]
    assert info["Config"]["Cmd"][:2] == ["--model", repo_id]
    assert chat_with_key(deployment)["usage"]["completion_tokens"] > 0
