"""The vllm_service_model action's settings: the play's variables, else the role's argument spec."""

import os

import pytest
import yaml
from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.llmops.vllm.plugins.action.vllm_service_model import (
    SPEC_FILE, ActionModule, read_settings, spec_defaults,
)
from ansible_collections.llmops.vllm.plugins.module_utils._instance_model import SETTINGS

ROLE_DIR = os.path.dirname(os.path.dirname(SPEC_FILE))


def role_defaults():
    with open(os.path.join(ROLE_DIR, "defaults", "main.yml")) as defaults:
        return {name[len("vllm_service_"):]: value for name, value in yaml.safe_load(defaults).items()}


def test_every_setting_is_in_the_argument_spec():
    spec = spec_defaults()
    missing = [key for key in SETTINGS if key not in spec]
    assert not missing, "settings the model reads without an argument-spec default: %s" % missing


def test_a_setting_without_a_role_default_takes_the_spec_default_literally():
    # No line in defaults/main.yml: the spec's default is what the model gets, so it must be a value
    # (not a description such as /var/lib/<name>).
    defaults, spec = role_defaults(), spec_defaults()
    for key in SETTINGS:
        if key not in defaults:
            assert "<" not in str(spec[key]), "vllm_service_%s: spec default %r is a description" % (key, spec[key])


def test_spec_and_role_defaults_agree_where_both_are_values():
    defaults, spec = role_defaults(), spec_defaults()
    for key in SETTINGS:
        if key in defaults and "{{" not in str(defaults[key]) and "<" not in str(spec[key]):
            assert defaults[key] == spec[key], "vllm_service_%s: defaults/main.yml %r, argument spec %r" % (
                key, defaults[key], spec[key])


def test_read_settings_prefers_the_play_and_falls_back_to_the_spec():
    task_vars = {"vllm_service_port": "{{ 8000 + 1 }}"}
    settings = read_settings(task_vars, template=lambda value: 8001 if value == "{{ 8000 + 1 }}" else value,
                             defaults=lambda: dict.fromkeys(SETTINGS, "spec"))
    assert settings["port"] == 8001
    assert {key for key, value in settings.items() if value == "spec"} == set(SETTINGS) - {"port"}


def test_a_setting_in_neither_place_is_an_error():
    with pytest.raises(AnsibleActionFail, match="vllm_service_name is not defined"):
        read_settings({}, template=str, defaults=lambda: {})


def test_controller_files_are_found_like_copy_src_or_not_at_all(tmp_path):
    """The TLS files are looked up the way copy's src is (ActionBase._find_needle: absolute, or in the
    role's/playbook's files/); anything that is not a file there is None (the model names the variable)."""
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "server.pem").write_text("cert")

    def find_needle(dirname, needle):
        path = needle if os.path.isabs(needle) else os.path.join(str(tmp_path), dirname, needle)
        if not os.path.exists(path):
            raise AnsibleError("Could not find or access '%s'" % needle)
        return path

    action = ActionModule.__new__(ActionModule)
    action._find_needle = find_needle
    assert action._controller_file("server.pem") == str(tmp_path / "files" / "server.pem")
    assert action._controller_file(str(tmp_path / "files" / "server.pem")) == str(tmp_path / "files" / "server.pem")
    assert action._controller_file("missing.pem") is None
    assert action._controller_file(str(tmp_path / "files")) is None  # a directory


def run_action(check_host, **settings):
    """The action itself, on the role's defaults (an open server allowed: this is not about exposure)."""
    from types import SimpleNamespace
    from unittest import mock

    from ansible_collections.llmops.vllm.plugins.action.vllm_service_model import ActionModule

    task = SimpleNamespace(async_val=0, check_mode=False, action="llmops.vllm.vllm_service_model",
                           args={"check_host": check_host})
    connection = mock.MagicMock()
    connection._shell.tmpdir = "/tmp/x"
    action = ActionModule(task, connection, None, None, SimpleNamespace(template=lambda value: value), None)
    task_vars = {"vllm_service_" + key: value for key, value in spec_defaults().items()}
    task_vars.update({"vllm_service_allow_unauthenticated": True, "vllm_service_venv_path": "/opt/vllm/venv",
                      "vllm_service_command": ["/opt/vllm/venv/bin/vllm", "serve"],
                      "vllm_service_advertise_address": "host1", "vllm_service_device": "cpu", "vllm_service_ld_preload": "",
                      "vllm_service_state_dir": "/var/lib/vllm", "vllm_service_container_name": "vllm",
                      "vllm_service_image": "vllm/vllm-openai-cpu:v0.33.0"})
    groups = settings.pop("groups", {})
    task_vars.update(settings.pop("task_vars", {}))
    task_vars.update({"vllm_service_" + key: value for key, value in settings.items()}, groups=groups)
    return action.run(task_vars=task_vars)


def test_a_floating_hub_revision_is_a_warning_where_the_role_deploys():
    result = run_action(True)
    assert not result.get("failed"), result
    assert "vllm_service_model_predownload" in result["warnings"][0] and "warnings" not in result["instances"][0]
    assert "warnings" not in run_action(False)  # a job reading the endpoints says nothing
    assert "warnings" not in run_action(True, model_predownload=True)


def test_a_drain_router_outside_the_inventory_fails_before_the_host_changes():
    result = run_action(True, drain_routers=["router-1", "typo-router"], groups={"all": ["host1", "router-1"]})
    assert result["failed"] and "vllm_service_drain_routers names typo-router, not in the inventory" in result["msg"]
    result = run_action(True, drain_routers=["router-1"], groups={"all": ["host1", "router-1"]})
    assert not result.get("failed") and result["drain_routers"] == ["router-1"]


def test_the_nodes_of_a_multi_node_instance_must_run_in_one_batch():
    hosts = {"host1": {"ansible_host": "10.0.0.1"}, "host2": {"ansible_host": "10.0.0.2"}}
    common = dict(multinode_group="big", tensor_parallel_size=2, groups={"all": ["host1", "host2"], "big": ["host1", "host2"]})
    result = run_action(True, task_vars={"inventory_hostname": "host1", "hostvars": hosts, "ansible_play_batch": ["host1"]},
                        **common)
    assert result["failed"] and "vllm_service_multinode_group 'big': host2 not in this batch of the play" in result["msg"]
    result = run_action(True, task_vars={"inventory_hostname": "host1", "hostvars": hosts,
                                         "ansible_play_batch": ["host1", "host2"]}, **common)
    assert not result.get("failed"), result
    assert result["instances"][0]["multinode"]["master_addr"] == "10.0.0.1"
    assert result["instances"][0]["env"]["VLLM_HOST_IP"] == "10.0.0.1"
