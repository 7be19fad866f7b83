#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nvidia_smi_info
short_description: Gather NVIDIA GPU facts with nvidia-smi
version_added: 0.1.0
description:
  - Runs C(nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits), the documented and stable
    scripting interface of C(nvidia-smi), and C(nvidia-smi --version) for the driver and CUDA versions.
  - From the 610 driver branch on, C(--version) prints C(KMD version) and C(CUDA UMD version) and turns
    C(DRIVER version) and C(CUDA version) into a C(Deprecated, ...) text; the new lines are read.
  - When C(--version) does not print the CUDA version (old drivers), it is read from the header of the
    default C(nvidia-smi) table.
  - A value that is not a dotted version number (for example C(Deprecated, see ...)) is never reported
    as a driver or CUDA version; the fact is then V(null).
  - Fields an older driver does not know (for example C(compute_cap)) are dropped from the query and
    reported as V(null); they are listed in RV(unsupported_fields).
  - A host without C(nvidia-smi) is not an error unless O(required=true); the facts then say
    C(nvidia_smi_present=false).
  - A host where C(nvidia-smi) is installed but cannot talk to the NVIDIA driver (driver not loaded,
    driver/library version mismatch) is an error with a message that says so.
  - Read-only; never reports a change.
author:
  - llmops.vllm maintainers (@llmops)
options:
  binary:
    description:
      - Path of the C(nvidia-smi) executable.
      - By default it is looked up on E(PATH) and in the usual driver locations.
      - A path that does not exist is treated like a missing C(nvidia-smi) (with a warning).
    type: path
  required:
    description:
      - Fail when C(nvidia-smi) is missing or reports no GPU.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
    details: Only reads; runs normally in check mode.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
notes:
  - Values that C(nvidia-smi) prints as C([N/A]) or C([Not Supported]) (for example GPU utilization
    while MIG is enabled, or the MIG mode of a GPU without MIG) are returned as V(null).
seealso:
  - name: nvidia-smi documentation
    description: The C(--query-gpu) fields are described by C(nvidia-smi --help-query-gpu).
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
"""

EXAMPLES = r"""
- name: Gather GPU facts
  llmops.vllm.nvidia_smi_info:

- name: Show the GPUs
  ansible.builtin.debug:
    msg: "{{ item.index }}: {{ item.name }} {{ item.memory_total_mib }} MiB, sm_{{ item.compute_capability }}"
  loop: "{{ ansible_facts.nvidia_gpus }}"

- name: Fail early on hosts that are meant to have a GPU
  llmops.vllm.nvidia_smi_info:
    required: true

- name: Use a non-standard location
  llmops.vllm.nvidia_smi_info:
    binary: /usr/local/nvidia/bin/nvidia-smi

- name: Require a driver that supports CUDA 12.8 or later
  ansible.builtin.assert:
    that:
      - ansible_facts.nvidia_cuda_version is version('12.8', '>=')
"""

RETURN = r"""
ansible_facts:
  description: GPU facts.
  returned: always
  type: dict
  contains:
    nvidia_smi_present:
      description: Whether C(nvidia-smi) was found.
      returned: always
      type: bool
      sample: true
    nvidia_gpu_count:
      description: Number of GPUs.
      returned: always
      type: int
      sample: 1
    nvidia_driver_version:
      description: NVIDIA driver version (C(KMD version) on 610+ drivers), V(null) without C(nvidia-smi) or when no version number was found.
      returned: always
      type: str
      sample: "590.48.01"
    nvidia_cuda_version:
      description: Highest CUDA version the driver supports (C(CUDA UMD version) on 610+ drivers), V(null) when unknown.
      returned: always
      type: str
      sample: "13.1"
    nvidia_gpus:
      description:
        - One entry per GPU, ordered by index.
        - Values C(nvidia-smi) prints as C([N/A]) or C([Not Supported]), and fields the driver does not
          know, are V(null).
      returned: always
      type: list
      elements: dict
      contains:
        index:
          description: GPU index (as in C(CUDA_VISIBLE_DEVICES) with C(CUDA_DEVICE_ORDER=PCI_BUS_ID)).
          type: int
          sample: 0
        name:
          description: Product name.
          type: str
          sample: NVIDIA H100 80GB HBM3
        uuid:
          description: GPU UUID.
          type: str
          sample: GPU-00000000-0000-0000-0000-000000000000
        pci_bus_id:
          description: PCI bus id.
          type: str
          sample: "00000000:00:09.0"
        driver_version:
          description: Driver version as reported for this GPU.
          type: str
          sample: "590.48.01"
        vbios_version:
          description: VBIOS version.
          type: str
          sample: 96.00.A5.00.01
        memory_total_mib:
          description: Total memory in MiB.
          type: int
          sample: 81559
        memory_used_mib:
          description: Used memory in MiB.
          type: int
          sample: 0
        memory_free_mib:
          description: Free memory in MiB.
          type: int
          sample: 81081
        compute_capability:
          description: CUDA compute capability, V(null) on drivers that cannot report it.
          type: str
          sample: "9.0"
        mig_mode:
          description: Current MIG mode, V(Enabled) or V(Disabled); V(null) for GPUs without MIG.
          type: str
          sample: Disabled
        mig_mode_pending:
          description: MIG mode after the next GPU reset; V(null) for GPUs without MIG.
          type: str
          sample: Disabled
        persistence_mode:
          description: V(Enabled) or V(Disabled).
          type: str
          sample: Enabled
        compute_mode:
          description: Compute mode, for example V(Default) or V(Exclusive_Process).
          type: str
          sample: Default
        ecc_mode:
          description: Current ECC mode, V(null) for GPUs without ECC.
          type: str
          sample: Enabled
        pstate:
          description: Performance state.
          type: str
          sample: P0
        temperature_c:
          description: Core temperature in degrees C.
          type: float
          sample: 41
        power_draw_w:
          description: Power draw in W.
          type: float
          sample: 69.85
        power_limit_w:
          description: Power limit in W.
          type: float
          sample: 700.0
        utilization_gpu_pct:
          description: GPU utilization in percent; V(null) while MIG is enabled.
          type: float
          sample: 0
        utilization_memory_pct:
          description: Memory controller utilization in percent.
          type: float
          sample: 0
        clocks_sm_mhz:
          description: Current SM clock in MHz.
          type: float
          sample: 345
        clocks_max_sm_mhz:
          description: Maximum SM clock in MHz.
          type: float
          sample: 1980
binary:
  description: Path of the C(nvidia-smi) that was run, V(null) when none was found.
  returned: always
  type: str
  sample: /usr/bin/nvidia-smi
unsupported_fields:
  description: Query fields the driver rejected as unknown; their values are V(null).
  returned: always
  type: list
  elements: str
  sample: [compute_cap]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmops.vllm.plugins.module_utils._nvidia_smi import (
    NvidiaSmiError,
    absent_facts,
    gather_facts,
)

# Looked at in addition to PATH.
EXTRA_DIRS = ['/usr/bin', '/usr/local/bin', '/usr/local/nvidia/bin', '/usr/lib/wsl/lib', '/opt/nvidia/bin']


def find_binary(module):
    binary = module.params['binary']
    if binary:
        if os.path.isfile(binary) and os.access(binary, os.X_OK):
            return binary
        module.warn('nvidia-smi binary %s does not exist or is not executable' % binary)
        return None
    return module.get_bin_path('nvidia-smi', opt_dirs=list(EXTRA_DIRS))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            binary=dict(type='path'),
            required=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    binary = find_binary(module)
    if not binary:
        facts = absent_facts()
        if module.params['required']:
            module.fail_json(msg='nvidia-smi was not found%s; is the NVIDIA driver installed?'
                             % (' at %s' % module.params['binary'] if module.params['binary'] else ' on PATH'),
                             ansible_facts=facts, binary=None, unsupported_fields=[])
        module.exit_json(changed=False, ansible_facts=facts, binary=None, unsupported_fields=[])

    def run(args):
        return module.run_command(args, environ_update=dict(LC_ALL='C', LANG='C'))

    try:
        facts, unsupported = gather_facts(run, binary)
    except NvidiaSmiError as exc:
        module.fail_json(msg=exc.msg, rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr, cmd=exc.cmd,
                         binary=binary)

    if module.params['required'] and not facts['nvidia_gpus']:
        module.fail_json(msg='nvidia-smi (%s) reports no GPU' % binary, ansible_facts=facts, binary=binary,
                         unsupported_fields=unsupported)
    module.exit_json(changed=False, ansible_facts=facts, binary=binary, unsupported_fields=unsupported)


if __name__ == '__main__':
    main()
