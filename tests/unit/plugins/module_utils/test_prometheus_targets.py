"""The fleet's Prometheus targets: every published vLLM instance and every router's metrics listener."""

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._prometheus_targets import (
    TargetsError, check_settings, router_targets, vllm_targets)

EP = {"name": "vllm", "port": 8000, "address": "fleet-1", "model": "tiny", "url": "http://fleet-1:8000"}
HOSTVARS = {
    "fleet-1": {"group_names": ["cpu_hosts"], "vllm_service_endpoints": [
        EP, dict(EP, name="vllm-b", port=8001, model="llmops/tiny-qwen2", url="http://fleet-1:8001")]},
    "gpu-1": {"group_names": ["gpu_hosts", "cpu_hosts"], "prometheus_targets_address": "127.0.0.1",
              "prometheus_targets_port": 18102,
              "vllm_service_endpoints": [dict(EP, address="gpu-1", url="https://gpu-1:8000")]},
    "v6": {"group_names": [], "vllm_service_endpoints": [dict(EP, address="fd00::5")]},
    "bare": {"group_names": ["cpu_hosts"]},
    "router-1": {"vllm_router_endpoint": {"metrics_url": "http://127.0.0.1:29000/metrics"}},
    "router-2": {"vllm_router_endpoint": {"metrics_url": "http://10.0.0.7:29000/metrics"}},
}


def test_every_published_instance_with_its_labels():
    got = vllm_targets(HOSTVARS, ["gpu-1", "fleet-1", "bare", "v6"], labels={"env": "ci"})
    assert [e["targets"] for e in got] == [["fleet-1:8000"], ["fleet-1:8001"], ["127.0.0.1:18102"], ["[fd00::5]:8000"]]
    assert got[1]["labels"] == {"env": "ci", "host": "fleet-1", "group": "cpu_hosts", "model": "llmops/tiny-qwen2",
                                "instance_name": "vllm-b"}
    assert got[2]["labels"]["group"] == "gpu_hosts" and got[2]["labels"]["__scheme__"] == "https"
    assert got[3]["labels"]["group"] == "ungrouped" and "__scheme__" not in got[0]["labels"]


def test_a_port_override_applies_to_a_host_with_one_instance_only():
    hv = {"h": dict(HOSTVARS["fleet-1"], prometheus_targets_port=9999)}
    assert [e["targets"] for e in vllm_targets(hv, ["h"])] == [["fleet-1:8000"], ["fleet-1:8001"]]


def test_a_router_on_loopback_is_scraped_on_its_own_host_only():
    assert router_targets(HOSTVARS, ["router-1"], "router-1") == [
        {"targets": ["127.0.0.1:29000"], "labels": {"host": "router-1", "group": "vllm_routers"}}]
    with pytest.raises(TargetsError, match="vllm_router_prometheus_host for router-1"):
        router_targets(HOSTVARS, ["router-1"], "monitor")
    assert router_targets(HOSTVARS, ["router-2"], "monitor")[0]["targets"] == ["10.0.0.7:29000"]


def test_a_router_that_published_nothing_is_refused():
    with pytest.raises(TargetsError, match="published no endpoint"):
        router_targets(HOSTVARS, ["bare"], "bare")


GOOD = {"listen_address": "127.0.0.1:9090", "scrape_interval": "15s", "retention_time": "15d", "ca_file": ""}


@pytest.mark.parametrize("key,value", [
    ("listen_address", "0.0.0.0:9090\" --web.enable-admin-api \""), ("listen_address", "127.0.0.1:9090\n"),
    ("listen_address", "9090"), ("scrape_interval", "15"), ("scrape_interval", "15s\nglobal:"),
    ("retention_time", "15d --storage.tsdb.path=/"), ("ca_file", "relative.pem"), ("ca_file", "/etc/../root/x"),
    ("ca_file", "/etc/ca.pem\n  insecure_skip_verify: true")])
def test_settings_that_would_change_a_file_are_refused_by_name(key, value):
    with pytest.raises(TargetsError, match="prometheus_" + key):
        check_settings(dict(GOOD, **{key: value}))


def test_good_settings_pass():
    assert check_settings(dict(GOOD, listen_address="[::1]:9090", scrape_interval="1m30s", ca_file="/etc/ssl/ca.pem"))
    assert check_settings(dict(GOOD, listen_address=":9090"))
