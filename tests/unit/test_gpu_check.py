# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/gpu/gpu_check.py (`make gpu-check`) against STAND-INS: no GPU on CI machines.

What is real here: the script, ansible-playbook, the roles (nvidia_driver in check mode, vllm_gpu's
preflight, vllm_service's unit template) and nvidia_smi_info. What is a stand-in: nvidia-smi (replays
the real H100 capture, `-q` included), a fake sysfs with one NVIDIA PCI device and a fake
/proc/driver/nvidia/version. The sandboxed CUDA probe needs systemd and root; here it is skipped (or
reports no CUDA), the point being that the rest runs end to end and says what it would compare.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.llmops.vllm.tests.unit.nvidia_smi_capture import (
    CAPTURES,
    ISSUE_610_VERSION,
    CaptureRunner,
    capture_path,
    section,
    version_output,
    write_fake_nvidia_smi,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, 'tests', 'gpu', 'gpu_check.py')
sys.path.insert(0, os.path.dirname(SCRIPT))
import gpu_check  # noqa: E402  pylint: disable=wrong-import-position


def _smi_step(capture, **runner):
    facts, dummy = smi.gather_facts(CaptureRunner(capture, **runner), 'nvidia-smi')
    return {'info': {'ansible_facts': facts}, 'q_rc': 0, 'q_stdout': section(capture_path(capture), 'idle :: query (-q)'),
            'q_msg': ''}


@pytest.mark.parametrize('capture', sorted(CAPTURES))
def test_nvidia_smi_info_agrees_with_q_on_real_captures(capture):
    result = gpu_check.compare_smi(_smi_step(capture))
    assert result['status'] == 'ok', result['mismatches']
    assert len(result['compared']) == 8  # 2 versions, the count, 5 values of the one GPU


def test_q_parser_reads_mig_and_memory():
    top, gpus = gpu_check.parse_q(section(capture_path('h200-mig'), 'idle :: query (-q)'))
    assert top['Driver Version'] == '590.48.01'
    assert gpus[0]['pci_bus_id'] == '00000000:83:00.0'
    assert gpus[0]['MIG Mode/Current'] == 'Enabled'
    assert gpus[0]['FB Memory Usage/Total'] == '143771 MiB'


def test_a_difference_is_reported():
    # --version from the 610 driver (issue #13) with the rest of the 595 capture: the versions disagree
    result = gpu_check.compare_smi(_smi_step('rtx2080super', version_text=version_output(capture_path(ISSUE_610_VERSION))))
    assert result['status'] == 'fail'
    assert {m['what'] for m in result['mismatches']} == {'nvidia_driver_version', 'nvidia_cuda_version'}


@pytest.fixture(scope='module')
def standin_host(tmp_path_factory):
    root = tmp_path_factory.mktemp('gpu-check')
    (root / 'bin').mkdir()
    smi_path = write_fake_nvidia_smi(str(root / 'bin'), sys.executable, 'h100')
    dev = root / 'sysfs' / 'bus' / 'pci' / 'devices' / '0000:00:09.0'
    dev.mkdir(parents=True)
    for name, value in (('vendor', '0x10de'), ('device', '0x2330'), ('class', '0x030200')):
        (dev / name).write_text(value + '\n')
    proc = root / 'proc-version'
    proc.write_text('NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  590.48.01  Release Build  (stand-in)\n')
    return dict(root=root, args=['--nvidia-smi', smi_path, '--sysfs-root', str(root / 'sysfs'),
                                 '--proc-version-file', str(proc)])


def _run(standin_host, *extra):
    out = standin_host['root'] / ('result-%d.json' % len(extra))
    proc = subprocess.run([sys.executable, SCRIPT, '--out', str(out)] + standin_host['args'] + list(extra),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False,
                          cwd=str(standin_host['root']))
    return proc, json.loads(out.read_text())


def test_end_to_end_against_the_standins(standin_host):
    proc, report = _run(standin_host, '--torch-backend', 'cu130')
    assert proc.returncode == 0, proc.stdout
    steps = report['steps']
    assert steps['smi']['status'] == 'ok' and not steps['smi']['mismatches']
    # the role's own decisions, from the stand-in's answers: at branch 590 (open), nothing to install, verified
    driver = steps['driver']['details']
    assert driver['check_mode'] is True and driver['at_branch'] is True
    assert driver['result']['install_needed'] is False and driver['result']['verified'] is True
    assert steps['vllm_gpu']['details'] == dict(ok=True, checked=True, driver_cuda='13.1', gpu_count=1, required_cuda='13.0')
    sandbox = steps['sandbox']
    assert sandbox['status'] in ('skipped', 'no-cuda')
    assert 'DevicePolicy=closed' in sandbox['properties'] and 'NoNewPrivileges=yes' in sandbox['properties']
    assert sandbox['root_pre'] == ['/usr/bin/nvidia-modprobe -u -c=0']
    assert 'On a real NVIDIA host this check compares' in proc.stdout
    assert report['seconds'] < 240


def test_preflight_failure_is_reported(standin_host):
    proc, report = _run(standin_host, '--wheel-cuda', '13.2', '--skip', 'smi', '--skip', 'driver', '--skip', 'sandbox')
    assert proc.returncode == 1
    step = report['steps']['vllm_gpu']
    assert step['status'] == 'fail'
    assert 'supports CUDA 13.1' in step['details']['msg'] and 'needs CUDA' in step['details']['msg']
