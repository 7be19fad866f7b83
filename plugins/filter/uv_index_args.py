# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""uv/pip flags for where packages come from (shared by uv_python, vllm_cpu_build and vllm_gpu)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._uv import index_args

DOCUMENTATION = r"""
name: uv_index_args
short_description: uv or pip command-line flags for a package index, a mirror or a wheelhouse
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - One place for the flags the roles pass to C(uv pip install) and C(pip install).
  - Offline (or C(no_index)) means C(--no-index) (and C(--offline) for uv) and no index flags;
    otherwise C(--index-url), C(--extra-index-url=) each, and for uv C(--index-strategy) and
    C(--torch-backend). Wheel directories come last as C(--find-links=) each.
positional: _input
options:
  _input:
    description:
      - Settings with keys C(tool) (C(uv) or C(pip)), C(index_url), C(extra_index_urls), C(find_links)
        (a path or a list), C(offline), C(no_index), C(index_strategy) and C(torch_backend).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Flags for an air-gapped uv install
  ansible.builtin.debug:
    msg: "{{ {'tool': 'uv', 'offline': true, 'find_links': '/opt/wheelhouse'} | llmops.vllm.uv_index_args }}"
"""

RETURN = r"""
_value:
  description: The flags.
  type: list
  elements: str
"""


def uv_index_args(settings):
    try:
        return index_args(settings)
    except ValueError as err:
        raise AnsibleFilterError("uv_index_args: %s" % err)


class FilterModule:
    def filters(self):
        return {"uv_index_args": uv_index_args}
