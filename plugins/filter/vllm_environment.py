# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of a vLLM process (the same function the vllm_service instance model uses)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._vllm_env import vllm_environment as _vllm_environment

DOCUMENTATION = r"""
name: vllm_environment
short_description: The environment variables a vLLM process runs with
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - Returns the environment of one vLLM process from a few settings, the same way for the server
    (C(llmops.vllm.vllm_service)) and the offline batch job (C(llmops.vllm.vllm_offline_inference)).
  - Caches and scratch go into the state directory (C(HOME), C(HF_HOME), C(VLLM_CACHE_ROOT),
    C(TORCHINDUCTOR_CACHE_DIR), C(TRITON_CACHE_DIR), C(TMPDIR)); then the hub's offline switches,
    usage statistics, the device's variables and C(LD_PRELOAD).
positional: _input
options:
  _input:
    description:
      - The settings, with keys C(state_dir) (required), C(hf_home), C(tmpdir), C(device) (C(cpu) or
        C(gpu)), C(cpu_kvcache_space_gib), C(cpu_omp_threads_bind), C(cuda_visible_devices),
        C(usage_stats), C(hub_offline) and C(ld_preload).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: The environment of a batch job
  ansible.builtin.debug:
    msg: "{{ {'state_dir': '/var/lib/vllm', 'device': 'cpu', 'hub_offline': true} | llmops.vllm.vllm_environment }}"
"""

RETURN = r"""
_value:
  description: Variable name to value.
  type: dict
"""


def vllm_environment(settings):
    try:
        return _vllm_environment(dict(settings))
    except ValueError as err:
        raise AnsibleFilterError("vllm_environment: %s" % err)


class FilterModule:
    def filters(self):
        return {"vllm_environment": vllm_environment}
