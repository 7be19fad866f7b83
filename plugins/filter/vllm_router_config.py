# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vllm_router role's configuration (plugins/module_utils/_router_model.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: vllm_router_config
short_description: The vLLM router's backends, argv and door keys, validated
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - Takes the vllm_router role's settings and the endpoints C(vllm_service) published for every
    server host (C(vllm_service_endpoints), C(vllm_service_endpoint_keys)); returns the backend URLs
    (every instance's C(public_url)), the router's argv, the one API key the backends share and the
    door's client keys. Bad input fails naming the variable.
positional: _input, hostvars, hosts
options:
  _input:
    description: The role's settings (vllm_router_* without the prefix).
    type: dict
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: The server hosts whose endpoints become backends.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Build the router's configuration
  ansible.builtin.set_fact:
    cfg: "{{ settings | llmops.vllm.vllm_router_config(hostvars, query('ansible.builtin.inventory_hostnames', 'cpu_hosts')) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: C(backends), C(argv), C(backend_api_key) (secret), C(door_keys) (secret), C(router_url),
    C(door_port), C(request_timeout_secs), C(ejection_secs).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._router_model import RouterError, build


def vllm_router_config(settings, hostvars, hosts):
    per_host = {}
    for host in hosts:
        hv = hostvars[host]
        per_host[host] = {"endpoints": hv.get("vllm_service_endpoints") or [],
                          "keys": hv.get("vllm_service_endpoint_keys") or {}}
    try:
        return build(dict(settings), per_host)
    except RouterError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"vllm_router_config": vllm_router_config}
