# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter prometheus_targets: Prometheus file_sd entries for the fleet's vLLM instances or its routers.
(one file per filter, so ansible-doc and Galaxy show each filter's own documentation)"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._prometheus_targets import (
    TargetsError, router_targets, vllm_targets)

DOCUMENTATION = r"""
name: prometheus_targets
short_description: Prometheus file_sd entries for every vLLM instance, or for every router, of the inventory
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - With O(kind=vllm), one entry per instance that C(llmops.vllm.vllm_service) published (fact
    C(vllm_service_endpoints), the same list the probe and the router use), labelled host, group, model
    and instance_name. Per host, C(prometheus_targets_address) and C(prometheus_targets_port) (one instance
    only) change what is scraped; https endpoints keep their scheme.
  - With O(kind=router), one entry per router host from the fact C(vllm_router_endpoint) (its metrics
    listener). A listener on loopback can only be scraped from the router host itself (O(scraper)); any
    other monitoring host is refused with the variable to change.
positional: _input, kind, hosts
options:
  _input:
    description: C(hostvars).
    type: raw
    required: true
  kind:
    description: What to list.
    type: str
    choices: [vllm, router]
    required: true
  hosts:
    description: The hosts to list (inventory host names).
    type: list
    elements: str
    required: true
  groups:
    description: Groups reported in the C(group) label of a vLLM instance, first match wins.
    type: list
    elements: str
    default: [gpu_hosts, cpu_hosts]
  labels:
    description: Extra labels on every entry.
    type: dict
    default: {}
  scraper:
    description: The host Prometheus runs on (for O(kind=router)).
    type: str
"""

EXAMPLES = r"""
- name: The file_sd entries of every vLLM instance
  ansible.builtin.set_fact:
    vllm_file_sd: "{{ hostvars | llmops.vllm.prometheus_targets('vllm', groups['cpu_hosts']) }}"
"""

RETURN = r"""
_value:
  description: "File_sd entries: C(targets) (one C(host:port)) and C(labels)."
  type: list
  elements: dict
"""


def prometheus_targets(hostvars, kind, hosts, groups=None, labels=None, scraper=None):
    try:
        if kind == "vllm":
            return vllm_targets(hostvars, hosts, groups or ["gpu_hosts", "cpu_hosts"], labels)
        if kind == "router":
            return router_targets(hostvars, hosts, scraper, labels)
    except TargetsError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    raise AnsibleFilterError("prometheus_targets: kind must be vllm or router, got %r" % (kind,))


class FilterModule:
    def filters(self):
        return {"prometheus_targets": prometheus_targets}
