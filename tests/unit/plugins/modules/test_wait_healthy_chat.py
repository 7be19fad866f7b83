"""wait_healthy's chat check: healthy is not enough, the server must answer a chat request.

The server is the FAKE OpenAI-shaped test server (canned tokens, no model): it exercises what the
module asks and how it reports, not vLLM.
"""

from __future__ import annotations

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._service_health import http_get_status
from ansible_collections.llmops.vllm.plugins.modules.wait_healthy import chat_check
from ansible_collections.llmops.vllm.tests.fixtures.standin_hub import make_tls_files
from ansible_collections.llmops.vllm.tests.unit.openai_test_server import fake_openai_routes, serve


def params(url, **extra):
    base = {"url": url + "/health", "unit": "vllm.service", "container": None, "request_timeout": 5.0,
            "validate_certs": True, "ca_path": None, "api_key": None, "chat_model": "fake-model"}
    base.update(extra)
    return base


def test_a_server_that_answers_chat_passes():
    with serve(fake_openai_routes()) as srv:
        got = chat_check(params(srv.url))
    assert got["error"] is None and got["usage"]["completion_tokens"] > 0


def test_the_key_is_sent_and_a_wrong_one_is_reported():
    with serve(fake_openai_routes(api_key="s3cret")) as srv:
        assert chat_check(params(srv.url, api_key="s3cret"))["error"] is None
        bad = chat_check(params(srv.url, api_key="nope"))
    assert "401" in bad["error"] or "API key" in bad["error"]


def test_a_model_the_server_does_not_serve_is_reported():
    with serve(fake_openai_routes(models=["other"])) as srv:
        got = chat_check(params(srv.url))
    assert got["error"] and "fake-model" in got["error"]


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls_files(str(tmp_path_factory.mktemp("tls")))  # a private CA, a certificate for 127.0.0.1


def test_over_https_the_health_poll_and_the_chat_verify_against_the_ca(tls):
    """vllm_service with TLS: the health URL is https and wait_healthy gets the instance's CA (ca_path)."""
    with serve(fake_openai_routes(), tls=tls) as srv:
        assert srv.url.startswith("https://")
        assert http_get_status(srv.url + "/health", 5, ca_path=tls["ca"]) == (200, "")
        assert chat_check(params(srv.url, ca_path=tls["ca"]))["error"] is None
        # without the CA the private certificate is not trusted: refused, not silently accepted
        status, error = http_get_status(srv.url + "/health", 5)
        assert status is None and "CERTIFICATE_VERIFY_FAILED" in error
        assert "certificate verify failed" in chat_check(params(srv.url))["error"].lower()
