# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter vllm_venv_path: the venv a vLLM version lives in (one file per filter, so ansible-doc and
Galaxy show each filter's own documentation)."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: vllm_venv_path
short_description: The venv path of a vLLM version (one venv per version)
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - The one rule for where a vLLM version is installed, shared by C(uv_python) (which creates the venv)
    and later plays such as C(vllm_offline_inference) (which must find it).
  - C(/opt/vllm/venvs/vllm-<version>) for a version, so an upgrade installs beside the running venv and a
    rollback goes back to it; C(/opt/vllm/venv) when no version is named (a role used alone).
  - A version is one path component of letters, digits, C(.), C(_), C(+), C(-), not starting with C(.);
    anything else is refused naming C(llmops_vllm_version), so it cannot reach another directory.
positional: _input
options:
  _input:
    description: The vLLM version (C(llmops_vllm_version)); empty or null for no version.
    type: raw
    required: true
"""

EXAMPLES = r"""
uv_python_venv_path: "{{ llmops_vllm_version | default('') | llmops.vllm.vllm_venv_path }}"
"""

RETURN = r"""
_value:
  description: The venv's absolute path.
  type: str
"""

ROOT = "/opt/vllm"
VERSION = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,63}")


def vllm_venv_path(version):
    """/opt/vllm/venvs/vllm-<version>, or /opt/vllm/venv without a version."""
    if version is None:
        return ROOT + "/venv"
    if not isinstance(version, str):
        raise AnsibleFilterError("llmops_vllm_version must be a string, got %s" % type(version).__name__)
    version = version.strip()
    if not version:
        return ROOT + "/venv"
    if not VERSION.fullmatch(version):
        raise AnsibleFilterError("llmops_vllm_version %r is not a version (letters, digits, '.', '_', '+', '-'; "
                                 "one path component)" % version)
    return "%s/venvs/vllm-%s" % (ROOT, version)


class FilterModule:
    def filters(self):
        return {"vllm_venv_path": vllm_venv_path}
