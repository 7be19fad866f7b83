"""compute_capability_problems: the one compute-capability check nvidia_driver and vllm_gpu share."""

import pytest

from ansible_collections.llmops.vllm.plugins.filter.compute_capability_problems import compute_capability_problems

H100 = dict(index=0, name='NVIDIA H100 80GB HBM3', pci_bus_id='00000000:00:09.0', compute_capability='9.0')
TURING = dict(index=1, name='NVIDIA GeForce RTX 2080 SUPER', pci_bus_id='00000000:0C:00.0', compute_capability='7.5')
P40 = dict(index=2, name='Tesla P40', pci_bus_id='00000000:81:00.0', compute_capability='6.1')
OLD_DRIVER = dict(index=3, name='NVIDIA A100', pci_bus_id='00000000:82:00.0', compute_capability=None)


def test_all_good():
    assert compute_capability_problems([H100, TURING], '7.0') == []


def test_low_and_unknown_are_named():
    assert compute_capability_problems([H100, P40, OLD_DRIVER], '7.0') == [
        'GPU 2 (Tesla P40, 00000000:81:00.0) has compute capability 6.1',
        'GPU 3 (NVIDIA A100, 00000000:82:00.0) has compute capability unknown',
    ]


def test_numeric_not_string_comparison():
    blackwell = dict(H100, compute_capability='10.0')
    assert compute_capability_problems([blackwell], '9.0') == []
    assert compute_capability_problems([H100], '10.0') != []


def test_garbage_value_is_unknown():
    assert 'unknown' in compute_capability_problems([dict(H100, compute_capability='[N/A]')], '7.0')[0]


def test_empty_list():
    assert compute_capability_problems([], '7.0') == []


def test_bad_minimum():
    with pytest.raises(ValueError, match='minimum'):
        compute_capability_problems([H100], 'seven')
