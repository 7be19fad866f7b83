"""vllm_service_instances: the role's instance list, completed from the role-level settings and checked."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.filter.instances import vllm_service_instances

DEFAULTS = {
    "name": "vllm", "port": 8000, "host": "0.0.0.0", "model": "Qwen/Qwen2.5-1.5B-Instruct", "model_src": "",
    "served_model_name": "", "extra_args": ["--max-model-len", "512"], "cuda_visible_devices": [], "cpus": "",
    "cpu_kvcache_space_gib": 4, "environment": {}, "state_dir": "/var/lib/vllm", "container_name": "vllm",
}


def test_empty_list_is_the_single_role_level_instance():
    assert vllm_service_instances([], DEFAULTS) == [DEFAULTS]


def test_port_given_as_text_becomes_a_number():
    assert vllm_service_instances([], dict(DEFAULTS, port="8001"))[0]["port"] == 8001


def test_instances_inherit_role_settings_and_get_their_own_dirs():
    out = vllm_service_instances(
        [{"name": "chat", "port": 8000}, {"name": "code", "port": 8001, "model": "Qwen/Qwen2.5-Coder-1.5B",
                                          "cpus": "2-3", "cuda_visible_devices": [1]}], DEFAULTS)
    assert [i["name"] for i in out] == ["chat", "code"]
    assert out[0]["model"] == DEFAULTS["model"] and out[0]["extra_args"] == DEFAULTS["extra_args"]
    assert out[0]["state_dir"] == "/var/lib/chat" and out[0]["container_name"] == "chat"
    assert out[1]["model"] == "Qwen/Qwen2.5-Coder-1.5B" and out[1]["cpus"] == "2-3"
    assert out[1]["cuda_visible_devices"] == [1] and out[1]["state_dir"] == "/var/lib/code"


def test_explicit_state_dir_wins():
    out = vllm_service_instances([{"name": "a", "port": 1, "state_dir": "/data/a"}], DEFAULTS)
    assert out[0]["state_dir"] == "/data/a"


def test_defaults_are_not_changed():
    before = dict(DEFAULTS)
    vllm_service_instances([{"name": "a", "port": 9000}], DEFAULTS)
    assert DEFAULTS == before


@pytest.mark.parametrize("instances, message", [
    ([{"port": 8000}], r"\[0\]: name is required"),
    ([{"name": "a"}], r"\[0\] \(a\): port is required"),
    ([{"name": "a", "port": 8000, "prot": 1}], r"unknown key\(s\) prot"),
    ([{"name": "a b", "port": 8000}], "valid unit name"),
    ([{"name": "a", "port": 70000}], "port must be 1-65535, got 70000"),
    ([{"name": "a", "port": "x"}], "port must be a number"),
    ([{"name": "a", "port": 8000}, {"name": "a", "port": 8001}], r"\[1\] \(a\): name a is already used by instance \[0\]"),
    ([{"name": "a", "port": 8000}, {"name": "b", "port": 8000}], r"\[1\] \(b\): port 8000 is already used"),
    ([{"name": "a", "port": 8000, "cpus": "0-3;5"}], "cpus must be CPU ids"),
    ([{"name": "a", "port": 8000, "extra_args": "--x"}], "extra_args must be a list"),
    ([{"name": "a", "port": 8000, "model": " "}], "model \\(or model_src\\) must name a model"),
    (["a"], r"\[0\]: must be a dictionary"),
])
def test_bad_entries_are_named(instances, message):
    with pytest.raises(AnsibleFilterError, match=r"^vllm_service_instances" + ".*" + message):
        vllm_service_instances(instances, DEFAULTS)


def test_single_instance_errors_name_the_role_variable():
    with pytest.raises(AnsibleFilterError, match=r"^vllm_service_cpus must be CPU ids"):
        vllm_service_instances([], dict(DEFAULTS, cpus="3.5"))


def test_vllm_style_cpu_groups_are_accepted():
    assert vllm_service_instances([{"name": "a", "port": 1, "cpus": "0-15|16-31"}], DEFAULTS)[0]["cpus"] == "0-15|16-31"
