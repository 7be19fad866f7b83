"""Verify the CPU path on the real systemd test host after `site.yml` converged.

Runs through Molecule's testinfra verifier: `host` is the container over the Ansible backend.
"""

import json
import os
import re
import urllib.error
import urllib.request

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("cpu_hosts")

# The port Molecule publishes on the controller's loopback (molecule.yml).
PUBLISHED = "http://127.0.0.1:18000"


def test_unit_active_and_enabled(host):
    svc = host.service("vllm")
    assert svc.is_running
    assert svc.is_enabled


def test_runs_as_service_user_not_root(host):
    pid = host.check_output("systemctl show -p MainPID --value vllm")
    assert int(pid) > 0
    assert host.check_output("ps -o user= -p %s" % pid).strip() == "vllm"
    assert host.user("vllm").shell == "/usr/sbin/nologin"


def test_no_restarts_happened(host):
    assert host.check_output("systemctl show -p NRestarts --value vllm") == "0"


def test_port_listening(host):
    assert host.socket("tcp://0.0.0.0:8000").is_listening


def test_env_file_is_private(host):
    env = host.file("/etc/vllm/vllm.env")
    assert env.exists
    assert env.mode == 0o600
    assert env.user == "root"  # root-owned: the service user cannot rewrite its own settings
    assert 'VLLM_CPU_KVCACHE_SPACE="1"' in env.content_string
    for key in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # vllm_service_ca_bundle
        assert '%s="/etc/ssl/certs/ca-certificates.crt"' % key in env.content_string


def test_caches_and_scratch_in_state_dir(host):
    env = host.file("/etc/vllm/vllm.env").content_string
    for key in ("TMPDIR", "VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "HF_HOME"):
        assert '%s="/var/lib/vllm/' % key in env
    # The compile cache really landed there (torch.compile ran on first start).
    assert host.file("/var/lib/vllm/cache").is_directory


def test_unit_is_hardened(host):
    unit = host.file("/etc/systemd/system/vllm.service").content_string
    for line in ("Restart=always", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/vllm\n",
                 "PrivateDevices=yes", "CapabilityBoundingSet=\n", "User=vllm", "Type=exec"):
        assert line in unit


def test_hardened_unit_scores_at_most_2_5_while_serving(host):
    """systemd-analyze security of the running CPU unit (issue #10 asks for <= 2.5; it was 7.4),
    measured while the server answers: the hardening leaves vLLM working."""
    out = host.check_output("systemd-analyze security --no-pager vllm.service")
    score = float(re.search(r"Overall exposure level for vllm.service: ([0-9.]+)", out).group(1))
    print("systemd-analyze security vllm.service: %.1f" % score)
    assert score <= 2.5, out
    assert host.run("systemctl is-active vllm").stdout.strip() == "active"
    with urllib.request.urlopen(PUBLISHED + "/health", timeout=10) as resp:
        assert resp.status == 200


def test_chat_completion_from_controller():
    """A real completion from vLLM, through the published loopback port."""
    body = json.dumps({
        "model": "tiny",
        "messages": [{"role": "user", "content": "Hello!"}],
        "max_tokens": 8,
    }).encode()
    req = urllib.request.Request(PUBLISHED + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        reply = json.load(resp)
    assert reply["object"] == "chat.completion"
    assert reply["model"] == "tiny"
    assert reply["usage"]["completion_tokens"] > 0
    assert reply["choices"][0]["message"]["role"] == "assistant"


def status_and_headers(request):
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as err:
        return err.code, err.headers


def test_no_api_browser_and_no_cross_origin_calls_by_default(host):
    """vllm_service_fastapi_docs / vllm_service_allowed_origins: real vLLM serves no docs and lets no other
    site's scripts call it (CORS)."""
    argv = host.check_output("systemctl show -p ExecStart --value vllm")
    assert "--disable-fastapi-docs" in argv and "--allowed-origins []" in argv, argv
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert status_and_headers(PUBLISHED + path)[0] == 404, path
    assert status_and_headers(PUBLISHED + "/health")[0] == 200
    preflight = urllib.request.Request(PUBLISHED + "/v1/chat/completions", method="OPTIONS", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    status, headers = status_and_headers(preflight)
    assert headers.get("Access-Control-Allow-Origin") is None, (status, dict(headers))
    status, headers = status_and_headers(urllib.request.Request(PUBLISHED + "/v1/models",
                                                                headers={"Origin": "https://evil.example"}))
    assert status == 200 and headers.get("Access-Control-Allow-Origin") is None, (status, dict(headers))


def test_openai_probe_module_on_host(host):
    """Our probe module, run on the host against the live server, passes every check."""
    result = host.ansible(
        "llmops.vllm.openai_probe",
        "url=http://127.0.0.1:8000 checks=health,models,completion,chat,stream max_tokens=8",
        check=False,
    )
    assert result.get("failed") is not True, result
    assert result["healthy"] is True
    assert result["models"] == ["tiny"]
    assert result["version"]
    stream = result["check_results"]["stream"]
    assert stream["ok"] and stream["ttft_ms"] > 0
    assert result["check_results"]["chat"]["usage"]["completion_tokens"] > 0


def test_openai_probe_reports_unknown_model(host):
    result = host.ansible(
        "llmops.vllm.openai_probe",
        "url=http://127.0.0.1:8000 checks=chat model=no-such-model",
        check=False,
    )
    # (testinfra's Ansible backend drops the "failed" flag; the module's own fields say it.)
    assert result["healthy"] is False
    models = result["check_results"]["models"]
    assert models["kind"] == "model_not_found"
    assert "served models: tiny" in models["msg"]
