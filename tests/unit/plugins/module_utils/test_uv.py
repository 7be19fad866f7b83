"""Where uv/pip take packages from: one function for uv_python, vllm_cpu_build and vllm_gpu."""

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._uv import environment, index_args


@pytest.mark.parametrize("settings, expected", [
    ({"tool": "uv", "offline": True, "find_links": ["/opt/wheelhouse"], "index_url": "https://ignored"},
     ["--offline", "--no-index", "--find-links=/opt/wheelhouse"]),
    ({"tool": "pip", "offline": True, "find_links": "/opt/wheelhouse"}, ["--no-index", "--find-links=/opt/wheelhouse"]),
    ({"tool": "uv", "no_index": True, "find_links": ["/a", "/b"]}, ["--no-index", "--find-links=/a", "--find-links=/b"]),
    ({"tool": "uv", "index_url": "https://mirror/simple", "extra_index_urls": ["https://x/cpu"],
      "index_strategy": "unsafe-best-match", "torch_backend": "cpu"},
     ["--index-url", "https://mirror/simple", "--extra-index-url=https://x/cpu", "--index-strategy", "unsafe-best-match",
      "--torch-backend", "cpu"]),
    ({"tool": "pip", "index_url": "https://mirror/simple", "index_strategy": "x", "torch_backend": "cu128"},
     ["--index-url", "https://mirror/simple"]),
    ({"tool": "uv", "find_links": ""}, []),
])
def test_index_args(settings, expected):
    assert index_args(settings) == expected


def test_unknown_tool():
    with pytest.raises(ValueError, match="tool must be uv or pip"):
        index_args({"tool": "conda"})


def test_environment():
    assert environment({}) == {"UV_SYSTEM_CERTS": "1", "UV_NATIVE_TLS": "1"}
    env = environment({"environment": {"HTTPS_PROXY": "http://p:3128"}, "ca_bundle": "/ca.pem", "offline": True,
                       "native_tls": False})
    assert env == {"HTTPS_PROXY": "http://p:3128", "SSL_CERT_FILE": "/ca.pem", "PIP_CERT": "/ca.pem", "UV_OFFLINE": "1"}
