# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter systemd_env_value: a value for a systemd EnvironmentFile= line (one file per filter, so
ansible-doc and Galaxy show each filter's own documentation)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: systemd_env_value
short_description: Quote a value for a systemd C(EnvironmentFile=) line
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - Returns the value double-quoted, with backslashes, double quotes and newlines escaped, so that
    systemd reads it back unchanged from an C(EnvironmentFile=). Such files expand neither specifiers
    nor variables, so C(%) and C($) stay as they are.
positional: _input
options:
  _input:
    description: The value of the variable.
    type: raw
    required: true
seealso:
  - plugin: llmops.vllm.systemd_exec
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Write an environment file line
  ansible.builtin.copy:
    dest: /etc/vllm/vllm.env
    content: "HF_TOKEN={{ vllm_service_hf_token | llmops.vllm.systemd_env_value }}\n"
    mode: "0600"
"""

RETURN = r"""
_value:
  description: The quoted value.
  type: str
"""


def systemd_env_value(value):
    """A value for an C(EnvironmentFile=) line: double-quoted, no specifier/variable expansion there."""
    value = str(value)
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class FilterModule:
    def filters(self):
        return {"systemd_env_value": systemd_env_value}
