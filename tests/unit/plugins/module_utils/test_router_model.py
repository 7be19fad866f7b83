"""The vllm_router model: backends from vllm_service's endpoints, the router's argv, the door's keys."""

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._router_model import RouterError, backends, build

SETTINGS = {
    "host": "127.0.0.1", "port": 30000, "door_port": 8443, "prometheus_host": "127.0.0.1", "prometheus_port": 29000,
    "policy": "cache_aware", "health_check_interval_secs": 2, "health_check_timeout_secs": 2,
    "health_failure_threshold": 2, "health_success_threshold": 2, "retry_max_retries": 3,
    "cb_failure_threshold": 5, "cb_timeout_duration_secs": 10, "request_timeout_secs": 600,
    "worker_startup_timeout_secs": 900, "backends": [], "backend_hosts": "cpu_hosts", "backend_api_key": "",
    "api_keys": ["client-key-0123456789"], "extra_args": [], "served_model": "",
}


def ep(name, url, model="tiny"):
    return {"name": name, "public_url": url, "port": int(url.rsplit(":", 1)[1]), "model": model}


FLEET = {
    "h2": {"endpoints": [ep("vllm", "http://10.0.0.2:8000")], "keys": {"vllm": "k" * 20}},
    "h1": {"endpoints": [ep("vllm", "http://10.0.0.1:8000"), ep("b", "http://10.0.0.1:8001")],
           "keys": {"vllm": "k" * 20, "b": ""}},
}


def test_every_instance_of_every_host_is_a_backend():
    urls, key = backends(FLEET)
    assert urls == ["http://10.0.0.1:8000", "http://10.0.0.1:8001", "http://10.0.0.2:8000"]
    assert key == "k" * 20


def test_argv_and_config():
    cfg = build(SETTINGS, FLEET)
    argv = cfg["argv"]
    i = argv.index("--worker-urls")
    assert argv[i + 1:i + 4] == cfg["backends"]
    assert argv[argv.index("--policy") + 1] == "cache_aware"
    assert "--api-key" not in argv and "k" * 20 not in argv  # the key never reaches the command line
    assert cfg["backend_api_key"] == "k" * 20
    assert cfg["router_url"] == "http://127.0.0.1:30000"
    assert cfg["ejection_secs"] == 2 * 2 + 2


def test_one_model_per_door():
    fleet = dict(FLEET, h3={"endpoints": [ep("other", "http://10.0.0.3:8000", "tiny-b")], "keys": {}})
    with pytest.raises(RouterError, match="serve 2 models .*set vllm_router_served_model"):
        build(SETTINGS, fleet)
    cfg = build(dict(SETTINGS, served_model="tiny-b"), fleet)
    assert cfg["backends"] == ["http://10.0.0.3:8000"] and cfg["backend_api_key"] == ""
    with pytest.raises(RouterError, match="vllm_router_served_model 'nope' is served by no instance"):
        build(dict(SETTINGS, served_model="nope"), fleet)


def test_explicit_backends_win():
    cfg = build(dict(SETTINGS, backends=["http://a.example:9000/"]), FLEET)
    assert cfg["backends"] == ["http://a.example:9000"] and cfg["backend_api_key"] == ""


@pytest.mark.parametrize("change, fleet, message", [
    ({"policy": "fastest"}, FLEET, "vllm_router_policy must be one of"),
    ({"port": 70000}, FLEET, "vllm_router_port must be a port"),
    ({"port": "x"}, FLEET, "vllm_router_port must be an integer"),
    ({"health_check_interval_secs": 0}, FLEET, "vllm_router_health_check_interval_secs must be >= 1"),
    ({"prometheus_port": 30000}, FLEET, "must differ"),
    ({"host": "a b"}, FLEET, "vllm_router_host must be an IP address"),
    ({"api_keys": []}, FLEET, "vllm_router_api_keys must be a non-empty list"),
    ({"api_keys": "client-key-0123456789"}, FLEET, "vllm_router_api_keys must be a non-empty list"),
    ({"api_keys": ['short']}, FLEET, r"vllm_router_api_keys\[0\] must be 16-256"),
    ({"api_keys": ['x" 1; } server { listen 80']}, FLEET, r"vllm_router_api_keys\[0\]"),
    ({"backends": ["ftp://a:1"]}, FLEET, "vllm_router_backends: 'ftp://a:1'"),
    ({"backend_api_key": "bad key with spaces"}, FLEET, "the backends' API key must be"),
    ({"extra_args": ["--api-key", "x"]}, FLEET, "must not set --api-key"),
    ({}, {}, "no backends"),
    ({}, {"h": {"endpoints": [ep("vllm", "http://10.0.0.1:8000")], "keys": {"vllm": "a" * 20}},
          "g": {"endpoints": [ep("vllm", "http://10.0.0.2:8000")], "keys": {"vllm": "b" * 20}}},
     "2 different vllm_service_api_key values"),
    ({}, {"h": {"endpoints": [{"name": "vllm", "public_url": "http://bad host:1"}], "keys": {}}},
     "h's instance vllm publishes no usable public_url"),
    # Backends with TLS (vllm_service_tls_*): the router is not given a CA to verify them, so refused by name.
    ({}, {"h": {"endpoints": [dict(ep("vllm", "https://10.0.0.1:8000"), tls=True)], "keys": {}}},
     r"^vllm_router: h's instance vllm serves https://10\.0\.0\.1:8000 \(vllm_service_tls_cert_src.*plain http only"),
    ({"backends": ["https://10.0.0.1:8000"]}, FLEET,
     r"^vllm_router: vllm_router_backends lists https://10\.0\.0\.1:8000, but this role connects the router"),
])
def test_bad_input_is_refused_naming_the_variable(change, fleet, message):
    with pytest.raises(RouterError, match=message):
        build(dict(SETTINGS, **change), fleet)
