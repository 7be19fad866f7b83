# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter vllm_multinode_restart: whether any node of a multi-node instance restarts in this run."""

from __future__ import annotations

DOCUMENTATION = r"""
name: vllm_multinode_restart
short_description: Whether any node of a multi-node vLLM instance restarts in this run
version_added: 0.4.0
author: llmops.vllm maintainers (@llmops)
description:
  - A multi-node instance restarts as a whole. When one node's configuration changed, every node
    restarts (a head and workers of different configurations do not form one server).
  - Each node of the group tells the others with the fact C(vllm_service__node_restart) (set by
    C(llmops.vllm.vllm_service) before it restarts); a node outside this run (C(--limit)) counts as
    not restarting.
positional: _input
options:
  _input:
    description: The instance's multi-node plan (C(instance.multinode) of the role's model); none for a
      single-host instance.
    type: dict
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
"""

EXAMPLES = r"""
restart: "{{ vllm_service__instance.multinode | llmops.vllm.vllm_multinode_restart(hostvars) }}"
"""

RETURN = r"""
_value:
  description: True when a node of the group restarts.
  type: bool
"""

FACT = "vllm_service__node_restart"


def _truthy(value):
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def vllm_multinode_restart(multinode, hostvars):
    if not multinode:
        return False
    for node in multinode.get("nodes", []):
        try:
            facts = hostvars[node]
            value = facts.get(FACT, False) if hasattr(facts, "get") else False
        except KeyError:
            continue
        if _truthy(value):
            return True
    return False


class FilterModule:
    def filters(self):
        return {"vllm_multinode_restart": vllm_multinode_restart}
