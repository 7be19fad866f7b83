# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils._nvidia_smi fed with real nvidia-smi captures (tests/fixtures/nvidia-smi)."""

from __future__ import annotations

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils import _nvidia_smi as smi
from ansible_collections.llmops.vllm.tests.unit.nvidia_smi_capture import (
    CAPTURES,
    ISSUE_610_VERSION,
    CaptureRunner,
    capture_path,
    raw_values,
    replay_query,
    table_output,
    version_output,
)

FIELDS = [f[0] for f in smi.GPU_FIELDS]

# Values read by eye from the captures' query-gpu sections.
EXPECTED = {
    ('h100', 'idle'): dict(
        index=0, name='NVIDIA H100 80GB HBM3', uuid='GPU-00000000-0000-0000-0000-000000000000',
        pci_bus_id='00000000:00:09.0', driver_version='590.48.01', vbios_version='96.00.A5.00.01',
        memory_total_mib=81559, memory_used_mib=0, memory_free_mib=81081, compute_capability='9.0',
        mig_mode='Disabled', persistence_mode='Enabled', compute_mode='Default', ecc_mode='Enabled',
        pstate='P0', temperature_c=41, power_draw_w=69.85, power_limit_w=700.0, utilization_gpu_pct=0,
        utilization_memory_pct=0, clocks_sm_mhz=345, clocks_max_sm_mhz=1980),
    ('h100', 'load'): dict(
        memory_total_mib=81559, memory_used_mib=19818, memory_free_mib=61263, compute_capability='9.0',
        temperature_c=59, power_draw_w=631.95, utilization_gpu_pct=100, utilization_memory_pct=11,
        clocks_sm_mhz=1980),
    ('h200-mig', 'idle'): dict(
        index=0, name='NVIDIA H200', pci_bus_id='00000000:83:00.0', memory_total_mib=143771,
        memory_used_mib=55, memory_free_mib=143103, compute_capability='9.0', mig_mode='Enabled',
        persistence_mode='Enabled', temperature_c=28, power_draw_w=78.28,
        utilization_gpu_pct=None, utilization_memory_pct=None),  # [N/A] while MIG is on
    ('h200-mig', 'load'): dict(
        memory_used_mib=16959, memory_free_mib=126199, mig_mode='Enabled', power_draw_w=295.01,
        utilization_gpu_pct=None),
    ('rtx2080super', 'idle'): dict(
        index=0, name='NVIDIA GeForce RTX 2080 SUPER', pci_bus_id='00000000:0C:00.0',
        driver_version='595.71.05', memory_total_mib=8192, memory_used_mib=214, memory_free_mib=7571,
        compute_capability='7.5', mig_mode=None, mig_mode_pending=None, ecc_mode=None,  # [N/A]: no MIG/ECC
        persistence_mode='Disabled', pstate='P8', temperature_c=40, power_draw_w=39.32,
        power_limit_w=250.0, utilization_gpu_pct=0, utilization_memory_pct=9, clocks_max_sm_mhz=2145),
    ('rtx2080super', 'load'): dict(
        memory_used_mib=819, memory_free_mib=6967, compute_capability='7.5', pstate='P2',
        power_draw_w=111.5, utilization_gpu_pct=8, clocks_sm_mhz=2055),
}

VERSIONS = {
    'h100': ('590.48.01', '13.1'),
    'h200-mig': ('590.48.01', '13.1'),
    'rtx2080super': ('595.71.05', '13.2'),
}


@pytest.mark.parametrize('capture,phase', sorted(EXPECTED))
def test_gather_facts_from_captures(capture, phase):
    runner = CaptureRunner(capture, phase)
    facts, unsupported = smi.gather_facts(runner, '/usr/bin/nvidia-smi')
    assert unsupported == []
    assert facts['nvidia_smi_present'] is True
    assert facts['nvidia_gpu_count'] == 1
    assert (facts['nvidia_driver_version'], facts['nvidia_cuda_version']) == VERSIONS[capture]
    gpu = facts['nvidia_gpus'][0]
    assert set(gpu) == set(key for dummy, key, dummy2 in smi.GPU_FIELDS)
    for key, value in EXPECTED[(capture, phase)].items():
        assert gpu[key] == value, key
        if value is not None:
            assert type(gpu[key]) is type(value), key  # noqa: E721
    # the query is the documented scripting interface, nothing else
    assert runner.calls[0] == ['/usr/bin/nvidia-smi', '--query-gpu=' + ','.join(FIELDS),
                               '--format=csv,noheader,nounits']
    # --version has the CUDA version on these drivers: no need for the table
    assert runner.calls[1:] == [['/usr/bin/nvidia-smi', '--version']]


@pytest.mark.parametrize('capture', sorted(CAPTURES))
@pytest.mark.parametrize('phase', ['idle', 'load'])
def test_every_field_matches_the_capture(capture, phase):
    """Cross-check all fields against the full CSV (units stripped by header)."""
    raw = raw_values(capture_path(capture), phase)[0]
    rows = smi.parse_query_csv(replay_query(capture_path(capture), FIELDS, phase), FIELDS)
    gpu = smi.rows_to_gpus(rows)[0]
    for field, key, kind in smi.GPU_FIELDS:
        value = raw[field]
        if value.startswith('['):
            assert gpu[key] is None, (field, value)
        elif kind in ('str', 'version'):
            assert gpu[key] == value
        else:
            assert gpu[key] == float(value), (field, value)


@pytest.mark.parametrize('capture', sorted(CAPTURES))
def test_parse_version_output_captures(capture):
    parsed = smi.parse_version_output(version_output(capture_path(capture)))
    driver, cuda = VERSIONS[capture]
    assert parsed['driver_version'] == driver
    assert parsed['cuda_version'] == cuda
    assert parsed['smi_version'] == driver
    assert parsed['nvml_version'] == driver.rsplit('.', 1)[0]


@pytest.mark.parametrize('capture', sorted(CAPTURES))
@pytest.mark.parametrize('phase', ['idle', 'load'])
def test_parse_table_header_captures(capture, phase):
    parsed = smi.parse_table_header(table_output(capture_path(capture), phase))
    assert (parsed['driver_version'], parsed['cuda_version']) == VERSIONS[capture]


@pytest.mark.parametrize('renamed', [
    'CUDA version        : 13.1',
    'CUDA Version: 13.1',
    'cuda version : 13.1',
    'CUDA Driver Version : 13.1',
    'CUDA-Version        : 13.1',
])
def test_parse_version_output_renamed_cuda_line(renamed):
    text = version_output(capture_path('h100')).replace('CUDA Version        : 13.1', renamed)
    assert renamed in text
    parsed = smi.parse_version_output(text)
    assert parsed['cuda_version'] == '13.1'
    assert parsed['driver_version'] == '590.48.01'


def test_parse_version_output_without_cuda_line():
    text = ''.join(line + '\n' for line in version_output(capture_path('h100')).splitlines()
                   if not line.startswith('CUDA'))
    parsed = smi.parse_version_output(text)
    assert 'cuda_version' not in parsed
    assert parsed['driver_version'] == '590.48.01'


def test_cuda_version_falls_back_to_table_when_version_lacks_it():
    text = ''.join(line + '\n' for line in version_output(capture_path('rtx2080super')).splitlines()
                   if not line.startswith('CUDA'))
    runner = CaptureRunner('rtx2080super', version_text=text)
    facts, dummy = smi.gather_facts(runner, 'nvidia-smi')
    assert facts['nvidia_cuda_version'] == '13.2'
    assert runner.calls[-1] == ['nvidia-smi']


def test_versions_fall_back_to_table_when_version_flag_unsupported():
    runner = CaptureRunner('h200-mig', version_supported=False)
    facts, dummy = smi.gather_facts(runner, 'nvidia-smi')
    assert facts['nvidia_cuda_version'] == '13.1'
    assert facts['nvidia_driver_version'] == '590.48.01'


@pytest.mark.parametrize('value,kind,expected', [
    ('[N/A]', 'num', None),
    ('[Not Supported]', 'num', None),
    ('[Not Supported]', 'str', None),
    ('[Unknown Error]', 'int', None),
    ('N/A', 'str', None),
    ('', 'int', None),
    (' 81559 ', 'int', 81559),
    ('69.85', 'num', 69.85),
    ('41', 'num', 41),
    ('9.0', 'str', '9.0'),
    ('Enabled', 'str', 'Enabled'),
    ('garbage', 'num', None),
])
def test_convert_value(value, kind, expected):
    assert smi.convert_value(value, kind) == expected


def test_old_driver_unknown_fields_are_dropped_and_null():
    runner = CaptureRunner('rtx2080super', unknown_fields=['compute_cap', 'mig.mode.pending'])
    facts, unsupported = smi.gather_facts(runner, 'nvidia-smi')
    assert unsupported == ['compute_cap', 'mig.mode.pending']
    gpu = facts['nvidia_gpus'][0]
    assert gpu['compute_capability'] is None
    assert gpu['mig_mode_pending'] is None
    assert gpu['memory_total_mib'] == 8192
    assert gpu['name'] == 'NVIDIA GeForce RTX 2080 SUPER'
    queries = [c for c in runner.calls if c[1].startswith('--query-gpu=')]
    assert len(queries) == 3
    assert 'compute_cap' not in queries[-1][1]
    assert 'mig.mode.pending' not in queries[-1][1]


def test_required_field_unknown_is_an_error():
    runner = CaptureRunner('h100', unknown_fields=['index'])
    with pytest.raises(smi.NvidiaSmiError, match='required field'):
        smi.query_gpus(runner, 'nvidia-smi')


def test_driver_not_loaded():
    runner = CaptureRunner('h100', driver_loaded=False)
    with pytest.raises(smi.NvidiaSmiError) as exc:
        smi.gather_facts(runner, 'nvidia-smi')
    assert 'cannot communicate with the NVIDIA driver' in exc.value.msg
    assert "couldn't communicate with the NVIDIA driver" in exc.value.msg  # nvidia-smi's own words
    assert exc.value.rc == 9


def test_driver_library_mismatch():
    def run(args):
        return 18, 'Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 590.48\n', ''
    with pytest.raises(smi.NvidiaSmiError, match='cannot communicate with the NVIDIA driver'):
        smi.query_gpus(run, 'nvidia-smi')


def test_no_devices_found_is_an_empty_list():
    def run(args):
        if args[1:] == ['--version']:
            return 0, version_output(capture_path('h100')), ''
        return 6, 'No devices were found\n', ''
    facts, dummy = smi.gather_facts(run, 'nvidia-smi')
    assert facts['nvidia_gpus'] == []
    assert facts['nvidia_gpu_count'] == 0
    assert facts['nvidia_driver_version'] == '590.48.01'


def test_other_failure_is_reported_with_output():
    def run(args):
        return 4, '', 'Insufficient Permissions\n'
    with pytest.raises(smi.NvidiaSmiError, match=r'nvidia-smi failed \(rc=4\): Insufficient Permissions'):
        smi.query_gpus(run, 'nvidia-smi')


def test_malformed_csv_is_an_error():
    with pytest.raises(smi.NvidiaSmiError, match='2 values for 3 queried fields'):
        smi.parse_query_csv('0, a\n', ['index', 'name', 'uuid'])


def test_multiple_gpus_are_sorted_by_index():
    one = replay_query(capture_path('h100'), FIELDS).strip()
    two = one.replace('0, NVIDIA H100', '1, NVIDIA H100', 1)
    assert two != one
    rows = smi.parse_query_csv(two + '\n' + one + '\n', FIELDS)
    gpus = smi.rows_to_gpus(rows)
    assert [g['index'] for g in gpus] == [0, 1]


# --- the 610 driver branch (issue #13) and values that are not versions -------------------------

def _issue_610_version_text():
    return version_output(capture_path(ISSUE_610_VERSION))


def test_parse_version_output_610_branch():
    """610 deprecates `DRIVER version`/`CUDA version` (text, no number) for `KMD`/`CUDA UMD`."""
    text = _issue_610_version_text()
    assert 'Deprecated, see "KMD version" instead' in text
    parsed = smi.parse_version_output(text)
    assert parsed == dict(driver_version='610.57.04', cuda_version='13.3',
                          smi_version='610.57.04', nvml_version='610.57')


def test_gather_facts_610_version_output():
    # GPU rows replayed from the real 595.71.05 capture of the same card; --version from the issue.
    runner = CaptureRunner('rtx2080super', version_text=_issue_610_version_text())
    facts, dummy = smi.gather_facts(runner, 'nvidia-smi')
    assert facts['nvidia_driver_version'] == '610.57.04'
    assert facts['nvidia_cuda_version'] == '13.3'
    assert runner.calls[-1] == ['nvidia-smi', '--version']  # no table fallback needed


def test_610_deprecated_lines_alone_are_no_versions():
    text = ''.join(line + '\n' for line in _issue_610_version_text().splitlines()
                   if not line.startswith(('KMD', 'CUDA UMD')))
    parsed = smi.parse_version_output(text)
    assert 'driver_version' not in parsed
    assert 'cuda_version' not in parsed
    # nvidia_smi_info then falls back to the table header (here the 595 capture's)
    facts, dummy = smi.gather_facts(CaptureRunner('rtx2080super', version_text=text), 'nvidia-smi')
    assert (facts['nvidia_driver_version'], facts['nvidia_cuda_version']) == ('595.71.05', '13.2')


def test_new_names_win_over_old_ones():
    text = 'DRIVER version : 600.10.01\nKMD version : 610.57.04\nCUDA Version : 13.0\nCUDA UMD version : 13.3\n'
    parsed = smi.parse_version_output(text)
    assert (parsed['driver_version'], parsed['cuda_version']) == ('610.57.04', '13.3')


@pytest.mark.parametrize('text', [
    '',
    'garbage\n\x00\xff',
    'DRIVER version : Deprecated\nCUDA version : unknown\n',
    'DRIVER version : [N/A]\nCUDA Version : N/A\n',
    'DRIVER version :\nCUDA Version :   \n',
    'DRIVER version : 610.\nCUDA Version : 13.x\n',
    'KMD version : v610.57.04\nCUDA UMD version : 13\n',
])
def test_parse_version_output_never_reports_a_non_version(text):
    parsed = smi.parse_version_output(text)
    assert 'driver_version' not in parsed
    assert 'cuda_version' not in parsed


@pytest.mark.parametrize('table', [
    '',
    '| NVIDIA-SMI 610.57.04   Driver Version: Deprecated   CUDA Version: Deprecated |\n',
    '| NVIDIA-SMI 610.57.04   Driver Version: 610.   CUDA Version: 13. |\n',
])
def test_garbled_version_and_table_give_no_versions_but_the_gpu_row(table):
    """Nothing usable in --version or the table: CUDA unknown, driver from the GPU's own row."""
    def run(args):
        if args[1:] == ['--version']:
            return 0, 'DRIVER version : Deprecated, see "KMD version" instead\n', ''
        if args[1:] == []:
            return 0, table, ''
        return CaptureRunner('h100')(args)
    facts, dummy = smi.gather_facts(run, 'nvidia-smi')
    assert facts['nvidia_cuda_version'] is None
    assert facts['nvidia_driver_version'] == '590.48.01'  # the query-gpu row


def test_no_version_anywhere_is_null_not_text():
    def run(args):
        if args[1:] == ['--version']:
            return 2, '', 'Invalid combination of input arguments.\n'
        if args[1:] == []:
            return 0, 'something else entirely\n', ''
        return 0, replay_query(capture_path('h100'), FIELDS).replace('590.48.01', 'Deprecated'), ''
    facts, dummy = smi.gather_facts(run, 'nvidia-smi')
    assert facts['nvidia_driver_version'] is None
    assert facts['nvidia_cuda_version'] is None
    assert facts['nvidia_gpus'][0]['driver_version'] is None
    assert facts['nvidia_gpus'][0]['memory_total_mib'] == 81559


@pytest.mark.parametrize('value,expected', [
    ('610.57.04', '610.57.04'), (' 13.3 ', '13.3'), ('13', None), ('Deprecated,', None),
    ('[N/A]', None), ('', None), (None, None), ('13.3a', None),
])
def test_version_or_none(value, expected):
    assert smi.version_or_none(value) == expected
