# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter vllm_router_admin_url: where a router host's vllm-router answers its worker admin API."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._router_model import DEFAULT_HOST, DEFAULT_PORT, RouterError, admin_url

DOCUMENTATION = r"""
name: vllm_router_admin_url
short_description: The address of a router host's vLLM router, as seen from that host
version_added: 0.3.0
author: llmops.vllm maintainers (@llmops)
description:
  - Where C(llmops.vllm.router_worker), run on the router host (C(delegate_to)), finds the router that
    C(llmops.vllm.vllm_router) runs there, from that host's variables (C(hostvars[router])).
  - The router's own published C(vllm_router_endpoint.router_url) when the host has one, else
    C(vllm_router_host) and C(vllm_router_port) as the inventory sets them, else the role's defaults
    (C(127.0.0.1:30000)); a router bound to all addresses is asked on loopback.
positional: _input
options:
  _input:
    description: The router host's variables (C(hostvars[<router host>])).
    type: dict
    required: true
"""

EXAMPLES = r"""
router_url: "{{ hostvars['router-1'] | llmops.vllm.vllm_router_admin_url }}"
"""

RETURN = r"""
_value:
  description: C(http://<address>:<port>).
  type: str
"""


def vllm_router_admin_url(host_vars):
    published = (host_vars.get("vllm_router_endpoint") or {}).get("router_url")
    if published:
        return str(published)
    try:
        return admin_url(host_vars.get("vllm_router_host", DEFAULT_HOST), host_vars.get("vllm_router_port", DEFAULT_PORT))
    except RouterError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"vllm_router_admin_url": vllm_router_admin_url}
