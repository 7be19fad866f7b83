# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ray_status: what `ray status` says of a cluster, as data."""

from __future__ import annotations

from ansible_collections.llmops.vllm.plugins.module_utils._ray_cluster import parse_status

DOCUMENTATION = r"""
name: ray_status
short_description: The nodes and resources C(ray status) reports
version_added: 0.4.0
author: llmops.vllm maintainers (@llmops)
description:
  - Reads the text C(ray status) prints (Ray 2.x autoscaler summary) - the active, pending and recently
    failed nodes and the cluster's total resources.
positional: _input
options:
  _input:
    description: C(ray status)'s standard output.
    type: str
    required: true
"""

EXAMPLES = r"""
nodes: "{{ (status.stdout | llmops.vllm.ray_status).active }}"
"""

RETURN = r"""
_value:
  description: C(active), C(pending), C(failed) (node counts) and C(resources) (name -> total, as printed).
  type: dict
"""


def ray_status(text):
    return parse_status(text)


class FilterModule:
    def filters(self):
        return {"ray_status": ray_status}
