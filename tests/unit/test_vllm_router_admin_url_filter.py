"""vllm_router_admin_url: where vllm_service finds a router host's router to drain an instance;
vllm_router_door_target: where a client (the benchmark playbook) finds its door."""

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.filter.vllm_router_admin_url import vllm_router_admin_url
from ansible_collections.llmops.vllm.plugins.filter.vllm_router_door_target import vllm_router_door_target
from ansible_collections.llmops.vllm.plugins.module_utils._router_model import DEFAULT_DOOR_PORT, DEFAULT_HOST, DEFAULT_PORT

ROLES = Path(__file__).resolve().parents[2] / "roles"


@pytest.mark.parametrize("host_vars,expected", [
    ({}, "http://127.0.0.1:30000"),  # the role's defaults
    ({"vllm_router_port": "31000"}, "http://127.0.0.1:31000"),
    ({"vllm_router_host": "0.0.0.0", "vllm_router_port": 31000}, "http://127.0.0.1:31000"),
    ({"vllm_router_host": "10.0.0.5"}, "http://10.0.0.5:30000"),
    ({"vllm_router_endpoint": {"router_url": "http://127.0.0.1:32000"}, "vllm_router_port": 1}, "http://127.0.0.1:32000"),
])
def test_admin_url(host_vars, expected):
    assert vllm_router_admin_url(host_vars) == expected


@pytest.mark.parametrize("host_vars,name", [
    ({"vllm_router_port": 0}, "vllm_router_port"),
    ({"vllm_router_port": "30000/x"}, "vllm_router_port"),
    ({"vllm_router_host": "a b"}, "vllm_router_host"),
    ({"vllm_router_host": "h/../x"}, "vllm_router_host"),
])
def test_bad_settings_are_refused_naming_the_variable(host_vars, name):
    with pytest.raises(AnsibleFilterError, match=name):
        vllm_router_admin_url(host_vars)


def test_defaults_are_the_router_roles():
    defaults = yaml.safe_load((ROLES / "vllm_router" / "defaults" / "main.yml").read_text())
    assert (defaults["vllm_router_host"], defaults["vllm_router_port"]) == (DEFAULT_HOST, DEFAULT_PORT)


KEY = "door-client-key-0001"


@pytest.mark.parametrize("host_vars,url,public_url", [
    ({"inventory_hostname": "router-1"}, "https://127.0.0.1:8443", "https://router-1:8443"),
    ({"inventory_hostname": "r", "ansible_host": "10.0.0.9", "vllm_router_door_port": "9443"},
     "https://127.0.0.1:9443", "https://10.0.0.9:9443"),
    ({"inventory_hostname": "r", "ansible_host": "10.0.0.9", "vllm_router_advertise_address": "door.example.com"},
     "https://127.0.0.1:8443", "https://door.example.com:8443"),
    ({"inventory_hostname": "r", "vllm_router_advertise_address": "fd00::7"}, "https://127.0.0.1:8443", "https://[fd00::7]:8443"),
])
def test_door_target(host_vars, url, public_url):
    target = vllm_router_door_target(dict(host_vars, vllm_router_api_keys=[KEY, "second-client-key-02"]))
    assert target == {"name": "door", "url": url, "public_url": public_url, "key": KEY}


@pytest.mark.parametrize("host_vars,name", [
    ({"vllm_router_door_port": 70000}, "vllm_router_door_port"),
    ({"vllm_router_advertise_address": "a/b"}, "vllm_router_advertise_address"),
    ({"vllm_router_api_keys": []}, "vllm_router_api_keys"),
    ({"vllm_router_api_keys": KEY}, "vllm_router_api_keys"),
    ({"vllm_router_api_keys": ["short"]}, "vllm_router_api_keys"),
])
def test_bad_door_settings_are_refused_naming_the_variable(host_vars, name):
    with pytest.raises(AnsibleFilterError, match=name):
        vllm_router_door_target(dict({"inventory_hostname": "r", "vllm_router_api_keys": [KEY]}, **host_vars))


def test_door_port_default_is_the_router_roles():
    defaults = yaml.safe_load((ROLES / "vllm_router" / "defaults" / "main.yml").read_text())
    assert defaults["vllm_router_door_port"] == DEFAULT_DOOR_PORT
