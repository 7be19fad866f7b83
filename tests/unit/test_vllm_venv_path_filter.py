"""vllm_venv_path: the one rule for a vLLM version's venv, shared by uv_python and the offline job."""

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.filter.vllm_venv_path import vllm_venv_path

ROLES = Path(__file__).resolve().parents[2] / "roles"


@pytest.mark.parametrize("version,expected", [
    ("0.32.0", "/opt/vllm/venvs/vllm-0.32.0"),
    ("0.32.0.post1", "/opt/vllm/venvs/vllm-0.32.0.post1"),
    ("0.11.0+cpu", "/opt/vllm/venvs/vllm-0.11.0+cpu"),
    (" 0.32.0\n", "/opt/vllm/venvs/vllm-0.32.0"),  # a YAML block scalar's newline
    ("", "/opt/vllm/venv"),
    ("  ", "/opt/vllm/venv"),
    (None, "/opt/vllm/venv"),
])
def test_venv_path(version, expected):
    assert vllm_venv_path(version) == expected


@pytest.mark.parametrize("version", ["../../etc", "0.32/../x", ".hidden", "..", "0.3\n2", "0.32\x00", "a b", 0.32,
                                     "x" * 65])
def test_not_a_version_is_refused_naming_the_variable(version):
    with pytest.raises(AnsibleFilterError, match="llmops_vllm_version"):
        vllm_venv_path(version)


@pytest.mark.parametrize("role,variable", [("uv_python", "uv_python_venv_path"),
                                           ("vllm_offline_inference", "vllm_offline_inference_venv_path")])
def test_both_roles_use_the_one_rule(role, variable):
    default = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())[variable]
    assert "llmops.vllm.vllm_venv_path" in default and "/opt/vllm/venv" not in default, default
