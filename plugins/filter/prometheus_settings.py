# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter prometheus_settings: check the settings llmops.vllm.prometheus writes into files.
(one file per filter, so ansible-doc and Galaxy show each filter's own documentation)"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._prometheus_targets import TargetsError, check_settings

DOCUMENTATION = r"""
name: prometheus_settings
short_description: Check the Prometheus settings that are written into files, naming the variable
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - Full-string checks of the values C(llmops.vllm.prometheus) writes into C(/etc/default/prometheus) (an
    environment file) and C(prometheus.yml), so that no value can add a line, a quote or another flag.
  - Returns the settings unchanged; fails naming the C(prometheus_*) variable otherwise.
positional: _input
options:
  _input:
    description: Settings C(listen_address), C(scrape_interval), C(retention_time), C(ca_file).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the settings
  ansible.builtin.set_fact:
    checked: "{{ {'listen_address': '127.0.0.1:9090', 'scrape_interval': '15s', 'retention_time': '15d'} | llmops.vllm.prometheus_settings }}"
"""

RETURN = r"""
_value:
  description: The settings, unchanged.
  type: dict
"""


def prometheus_settings(settings):
    try:
        return check_settings(dict(settings))
    except TargetsError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self):
        return {"prometheus_settings": prometheus_settings}
