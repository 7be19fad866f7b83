# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter vllm_firewall_ruleset: the servers' nftables table from the model and the host's name lookups."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._firewall import FirewallError, parse_getent, ruleset

DOCUMENTATION = r"""
name: vllm_firewall_ruleset
short_description: The nftables ruleset that lets only the allowed clients reach a host's vLLM instances
version_added: 0.3.0
author: llmops.vllm maintainers (@llmops)
description:
  - From C(vllm_service)'s model (its C(firewall) part, made from C(vllm_service_allowed_clients)) and
    the host's C(getent ahosts) answers for the clients given by name, the text of one nftables table
    (C(inet llmops_vllm)) that accepts the instances' TCP ports from loopback and those clients only and
    resets every other connection to them. It replaces only its own table (C(nft -f)).
  - A name that resolves to nothing on the host is an error naming it (its client would be locked out).
positional: _input
options:
  _input:
    description: The model's C(firewall) (C(clients), C(names), C(ports)).
    type: dict
    required: true
  lookups:
    description: The registered results of C(getent ahosts <name>), one per name (C(item), C(stdout)).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
content: "{{ vllm_service__model.firewall | llmops.vllm.vllm_firewall_ruleset(vllm_service__client_lookups.results) }}"
"""

RETURN = r"""
_value:
  description: The ruleset, for C(nft -f).
  type: str
"""


def vllm_firewall_ruleset(firewall, lookups):
    resolved = {}
    for result in lookups or []:
        name = result.get("item") if isinstance(result, dict) else None
        if name:
            resolved[name] = parse_getent(result.get("stdout", ""))
    try:
        return ruleset(firewall["ports"], firewall["clients"], resolved)
    except FirewallError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"vllm_firewall_ruleset": vllm_firewall_ruleset}
