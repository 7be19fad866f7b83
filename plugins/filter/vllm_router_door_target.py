# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter vllm_router_door_target: a router host's door as a benchmark (or any client) target."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._router_model import RouterError, door_target

DOCUMENTATION = r"""
name: vllm_router_door_target
short_description: A router host's front door (nginx in front of vLLM's router) as a client target
version_added: 0.3.0
author: llmops.vllm maintainers (@llmops)
description:
  - From a router host's variables (C(hostvars[<router host>])), the door that C(llmops.vllm.vllm_router)
    runs there, in the shape of one of C(vllm_service)'s endpoints, so C(playbooks/benchmark.yml) can aim
    at it (C(benchmark_target=door)).
  - C(url) is the door on the router host's loopback, C(public_url) at C(vllm_router_advertise_address)
    (else C(ansible_host), else the inventory name), both on C(vllm_router_door_port) (default 8443);
    C(key) is the first of C(vllm_router_api_keys) (a secret, for C(no_log) tasks only).
positional: _input
options:
  _input:
    description: The router host's variables (C(hostvars[<router host>])).
    type: dict
    required: true
"""

EXAMPLES = r"""
door: "{{ hostvars['router-1'] | llmops.vllm.vllm_router_door_target }}"
"""

RETURN = r"""
_value:
  description: C(name) (C(door)), C(url), C(public_url) and C(key).
  type: dict
"""


def vllm_router_door_target(host_vars):
    try:
        return door_target(host_vars)
    except RouterError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"vllm_router_door_target": vllm_router_door_target}
