# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one compute-capability check of the collection (nvidia_driver and vllm_gpu use it)."""

from __future__ import annotations

import re

DOCUMENTATION = r"""
name: compute_capability_problems
short_description: GPUs below a minimum CUDA compute capability, as messages
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - Takes the C(nvidia_gpus) list of M(llmops.vllm.nvidia_smi_info) and returns one message per GPU whose
    compute capability is unknown (V(null), for example an old driver without the C(compute_cap) field)
    or lower than O(minimum). An empty list means every GPU is good enough.
  - Versions are compared numerically (C(10.0) is above C(9.0)).
positional: _input, minimum
options:
  _input:
    description: The C(nvidia_gpus) list.
    type: list
    elements: dict
    required: true
  minimum:
    description: The lowest acceptable compute capability, such as C(7.0).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Fail on GPUs vLLM cannot use
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ ansible_facts.nvidia_gpus | llmops.vllm.compute_capability_problems('7.0') }}"
"""

RETURN = r"""
_value:
  description: One message per GPU below O(minimum) or with an unknown compute capability.
  type: list
  elements: str
"""

_CC_RE = re.compile(r'^\d+(\.\d+)?$')


def _as_tuple(value):
    value = str(value).strip()
    if not _CC_RE.match(value):
        return None
    return tuple(int(part) for part in value.split('.'))


def compute_capability_problems(gpus, minimum):
    wanted = _as_tuple(minimum)
    if wanted is None:
        raise ValueError('compute_capability_problems: minimum must look like 7.0, got %r' % (minimum,))
    problems = []
    for gpu in gpus or []:
        raw = gpu.get('compute_capability')
        have = _as_tuple(raw) if raw is not None else None
        if have is not None and have >= wanted:
            continue
        problems.append('GPU %s (%s, %s) has compute capability %s' % (
            gpu.get('index'), gpu.get('name'), gpu.get('pci_bus_id'), raw if have is not None else 'unknown'))
    return problems


class FilterModule:
    def filters(self):
        return {'compute_capability_problems': compute_capability_problems}
