# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ray_cluster_plan: this host's part in a Ray cluster (role llmops.vllm.ray_cluster)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._multinode import inventory_address
from ansible_collections.llmops.vllm.plugins.module_utils._ray_cluster import RayClusterError, plan

DOCUMENTATION = r"""
name: ray_cluster_plan
short_description: This host's part in a Ray cluster over an inventory group
version_added: 0.4.0
author: llmops.vllm maintainers (@llmops)
description:
  - The head (the group's first host, or O(_input.head)) and the others' C(ray start) arguments, checked
    before any host changes; an error names the variable.
  - A node's address is its C(ray_cluster_advertise_address), else C(vllm_service_advertise_address),
    else C(ansible_host), else its inventory name.
positional: _input, inventory_hostname, groups, hostvars
options:
  _input:
    description: The role's settings (group, head, port, temp_dir, num_cpus, num_gpus, object_store_memory_mib).
    type: dict
    required: true
  inventory_hostname:
    description: This host.
    type: str
    required: true
  groups:
    description: C(groups).
    type: dict
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
"""

EXAMPLES = r"""
plan: "{{ {'group': 'ray_cluster', 'head': '', 'port': 6379, 'temp_dir': '/var/lib/llmops-ray'}
          | llmops.vllm.ray_cluster_plan(inventory_hostname, groups, hostvars) }}"
"""

RETURN = r"""
_value:
  description: C(role) (head or worker), C(head), C(nodes) (head first), C(address), C(head_address), C(argv).
  type: dict
"""

ADDRESS_VARS = ("ray_cluster_advertise_address", "vllm_service_advertise_address", "ansible_host")


def _address(host, hostvars):
    try:
        return str(inventory_address(hostvars[host], host, ADDRESS_VARS))
    except KeyError:
        return host


def ray_cluster_plan(settings, inventory_hostname, groups, hostvars):
    group = str(settings.get("group") or "")
    members = list(groups.get(group, []))
    try:
        return plan(group, members, str(settings.get("head") or ""), inventory_hostname,
                    {m: _address(m, hostvars) for m in members}, settings.get("port", 6379),
                    settings.get("temp_dir", ""), settings.get("num_cpus", -1), settings.get("num_gpus", -1),
                    settings.get("object_store_memory_mib", 0))
    except RayClusterError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"ray_cluster_plan": ray_cluster_plan}
