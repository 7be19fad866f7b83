# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_smi_info end to end, with a stand-in for nvidia-smi: no GPU on CI machines.

The stand-in is a small executable written into tmp_path that replays the
real captures in tests/fixtures/nvidia-smi for the arguments the module
passes (see nvidia_smi_capture.FAKE_NVIDIA_SMI); the module runs it through
AnsibleModule.run_command like it would run the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import ansible
import pytest

from ansible_collections.llmops.vllm.plugins.modules import nvidia_smi_info
from ansible_collections.llmops.vllm.tests.unit.nvidia_smi_capture import (
    ISSUE_610_VERSION,
    capture_path,
    fake_calls,
    version_output,
    write_fake_nvidia_smi,
)

# The directory holding ansible_collections/ (build/collections, see conftest.py).
COLLECTIONS_ROOT = nvidia_smi_info.__file__.split(os.sep + 'ansible_collections' + os.sep, maxsplit=1)[0]


@pytest.fixture
def fake_smi(tmp_path):
    """Write the stand-in nvidia-smi into its own directory; return a factory."""

    def make(capture='h100', **conf):
        directory = tmp_path / 'bin'
        directory.mkdir(exist_ok=True)
        return write_fake_nvidia_smi(str(directory), sys.executable, capture, **conf)

    return make


@pytest.fixture
def no_system_nvidia_smi(monkeypatch, tmp_path):
    """Only PATH is searched (so a real nvidia-smi on a GPU host does not leak in)."""
    empty = tmp_path / 'empty'
    empty.mkdir()
    monkeypatch.setattr(nvidia_smi_info, 'EXTRA_DIRS', [])
    monkeypatch.setenv('PATH', str(empty))
    return empty


def test_h100(run_module, fake_smi):
    binary = fake_smi('h100')
    result = run_module(nvidia_smi_info, dict(binary=binary))
    assert not result.get('failed'), result
    assert result['changed'] is False
    facts = result['ansible_facts']
    assert facts['nvidia_smi_present'] is True
    assert facts['nvidia_gpu_count'] == 1
    assert facts['nvidia_driver_version'] == '590.48.01'
    assert facts['nvidia_cuda_version'] == '13.1'
    gpu = facts['nvidia_gpus'][0]
    assert gpu['index'] == 0
    assert gpu['name'] == 'NVIDIA H100 80GB HBM3'
    assert gpu['memory_total_mib'] == 81559
    assert gpu['compute_capability'] == '9.0'
    assert gpu['mig_mode'] == 'Disabled'
    assert gpu['persistence_mode'] == 'Enabled'
    assert gpu['power_draw_w'] == 69.85
    assert result['binary'] == binary
    assert result['unsupported_fields'] == []
    calls = fake_calls(os.path.dirname(binary))
    assert calls[0][0].startswith('--query-gpu=index,name,uuid,pci.bus_id,')
    assert calls[0][1] == '--format=csv,noheader,nounits'
    assert calls[1] == ['--version']


def test_h200_mig_under_load(run_module, fake_smi):
    result = run_module(nvidia_smi_info, dict(binary=fake_smi('h200-mig', phase='load')))
    gpu = result['ansible_facts']['nvidia_gpus'][0]
    assert gpu['name'] == 'NVIDIA H200'
    assert gpu['mig_mode'] == 'Enabled'
    assert gpu['utilization_gpu_pct'] is None  # [N/A] with MIG on
    assert gpu['memory_used_mib'] == 16959
    assert gpu['memory_total_mib'] == 143771


def test_rtx_2080_super(run_module, fake_smi):
    result = run_module(nvidia_smi_info, dict(binary=fake_smi('rtx2080super')))
    facts = result['ansible_facts']
    gpu = facts['nvidia_gpus'][0]
    assert gpu['compute_capability'] == '7.5'
    assert gpu['mig_mode'] is None  # no MIG on GeForce: [N/A]
    assert gpu['memory_total_mib'] == 8192
    assert facts['nvidia_cuda_version'] == '13.2'
    assert facts['nvidia_driver_version'] == '595.71.05'


def test_found_on_path(run_module, fake_smi, no_system_nvidia_smi, monkeypatch):
    binary = fake_smi('h100')
    monkeypatch.setenv('PATH', '%s%s%s' % (no_system_nvidia_smi, os.pathsep, os.path.dirname(binary)))
    result = run_module(nvidia_smi_info, dict())
    assert result['binary'] == binary
    assert result['ansible_facts']['nvidia_gpu_count'] == 1


def test_check_mode(run_module, fake_smi):
    result = run_module(nvidia_smi_info, dict(binary=fake_smi('h100')), check_mode=True)
    assert not result.get('failed')
    assert result['changed'] is False
    assert result['ansible_facts']['nvidia_gpu_count'] == 1


def test_no_binary_is_not_a_failure(run_module, no_system_nvidia_smi):
    result = run_module(nvidia_smi_info, dict())
    assert not result.get('failed'), result
    assert result['ansible_facts'] == dict(nvidia_smi_present=False, nvidia_gpus=[], nvidia_gpu_count=0,
                                           nvidia_driver_version=None, nvidia_cuda_version=None)
    assert result['binary'] is None


def test_no_binary_required_fails(run_module, no_system_nvidia_smi):
    result = run_module(nvidia_smi_info, dict(required=True))
    assert result['failed'] is True
    assert 'nvidia-smi was not found on PATH' in result['msg']
    assert result['ansible_facts']['nvidia_smi_present'] is False


def test_missing_explicit_binary(run_module, tmp_path):
    missing = str(tmp_path / 'nope' / 'nvidia-smi')
    result = run_module(nvidia_smi_info, dict(binary=missing))
    assert not result.get('failed')
    assert result['ansible_facts']['nvidia_smi_present'] is False
    assert any(missing in w for w in result['_warnings'])
    result = run_module(nvidia_smi_info, dict(binary=missing, required=True))
    assert result['failed'] is True
    assert missing in result['msg']


def test_driver_not_loaded(run_module, fake_smi):
    result = run_module(nvidia_smi_info, dict(binary=fake_smi('h100', driver_loaded=False)))
    assert result['failed'] is True
    assert 'cannot communicate with the NVIDIA driver' in result['msg']
    assert result['rc'] == 9


def test_old_driver_unknown_fields(run_module, fake_smi):
    version_without_cuda = ''.join(line + '\n' for line in version_output(capture_path('h100')).splitlines()
                                   if not line.startswith('CUDA'))
    binary = fake_smi('h100', unknown_fields=['compute_cap', 'mig.mode.current', 'mig.mode.pending'],
                      version_text=version_without_cuda)
    result = run_module(nvidia_smi_info, dict(binary=binary))
    assert not result.get('failed'), result
    assert result['unsupported_fields'] == ['compute_cap', 'mig.mode.current', 'mig.mode.pending']
    facts = result['ansible_facts']
    gpu = facts['nvidia_gpus'][0]
    assert gpu['compute_capability'] is None
    assert gpu['mig_mode'] is None
    assert gpu['memory_total_mib'] == 81559
    assert facts['nvidia_cuda_version'] == '13.1'  # from the table header
    assert fake_calls(os.path.dirname(binary))[-1] == []  # plain `nvidia-smi`


def test_version_flag_not_supported(run_module, fake_smi):
    result = run_module(nvidia_smi_info, dict(binary=fake_smi('rtx2080super', version_supported=False)))
    facts = result['ansible_facts']
    assert facts['nvidia_cuda_version'] == '13.2'
    assert facts['nvidia_driver_version'] == '595.71.05'


def test_as_a_process(fake_smi, tmp_path):
    """`python -m <module> <args json>`, the way Ansible runs a module on a host."""
    binary = fake_smi('h200-mig')
    args = tmp_path / 'args.json'
    args.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': {'binary': binary, '_ansible_check_mode': True}}))
    paths = [COLLECTIONS_ROOT, os.path.dirname(os.path.dirname(ansible.__file__)), os.environ.get('PYTHONPATH')]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    proc = subprocess.run(
        [sys.executable, '-m', 'ansible_collections.llmops.vllm.plugins.modules.nvidia_smi_info', str(args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(tmp_path), timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result['changed'] is False
    assert result['ansible_facts']['nvidia_gpus'][0]['mig_mode'] == 'Enabled'
    assert result['ansible_facts']['nvidia_cuda_version'] == '13.1'


def test_610_version_output(run_module, fake_smi):
    """The 610 driver branch's `--version` (quoted in issue #13): KMD / CUDA UMD versions are read."""
    text = version_output(capture_path(ISSUE_610_VERSION))
    result = run_module(nvidia_smi_info, dict(binary=fake_smi('rtx2080super', version_text=text)))
    assert not result.get('failed'), result
    facts = result['ansible_facts']
    assert facts['nvidia_driver_version'] == '610.57.04'
    assert facts['nvidia_cuda_version'] == '13.3'
