# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils._bench_stats: vllm bench serve's metric definitions."""

from __future__ import annotations

import random

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._bench_stats import (
    calculate_metrics,
    mean,
    percentile,
    percentile_key,
    pstdev,
    summarize,
)


@pytest.mark.parametrize('values,pct,expected', [
    ([1, 2, 3, 4], 50, 2.5),
    ([1, 2, 3, 4], 90, 3.7),
    ([1, 2, 3, 4], 99, 3.97),
    ([1, 2, 3, 4], 0, 1),
    ([1, 2, 3, 4], 100, 4),
    ([4, 1, 3, 2], 25, 1.75),
    ([10], 99, 10),
    ([], 50, None),
])
def test_percentile_linear(values, pct, expected):
    got = percentile(values, pct)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_percentile_matches_numpy():
    np = pytest.importorskip('numpy')
    rng = random.Random(7)
    for n in (1, 2, 3, 10, 101):
        values = [rng.expovariate(1.0) for dummy in range(n)]
        for pct in (0, 1, 50, 90, 99, 99.9, 100):
            assert percentile(values, pct) == pytest.approx(float(np.percentile(values, pct)))
        assert pstdev(values) == pytest.approx(float(np.std(values)))
        assert mean(values) == pytest.approx(float(np.mean(values)))


def test_percentile_range_checked():
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_percentile_key():
    assert percentile_key(50) == 'p50'
    assert percentile_key(99.0) == 'p99'
    assert percentile_key(99.9) == 'p99.9'


def test_summarize_empty_is_null():
    assert summarize([]) == dict(count=0, mean=None, std=None, min=None, max=None, p50=None, p90=None, p99=None)


def test_calculate_metrics_by_hand():
    outputs = [
        # 4 output tokens: ttft 0.1, itl 0.02 0.03 0.05, latency 0.2
        dict(success=True, prompt_tokens=10, output_tokens=4, ttft=0.1, itl=[0.02, 0.03, 0.05], latency=0.2),
        # 2 output tokens
        dict(success=True, prompt_tokens=20, output_tokens=2, ttft=0.3, itl=[0.1], latency=0.4),
        # 1 output token: no TPOT, no ITL
        dict(success=True, prompt_tokens=30, output_tokens=1, ttft=0.5, itl=[], latency=0.5),
        dict(success=False, error='boom'),
    ]
    m = calculate_metrics(outputs, 2.0)
    assert m['completed'] == 3
    assert m['errors'] == 1
    assert m['duration_s'] == 2.0
    assert m['total_input_tokens'] == 60
    assert m['total_output_tokens'] == 7
    assert m['request_throughput'] == 1.5
    assert m['output_throughput'] == 3.5
    assert m['total_token_throughput'] == 33.5
    assert m['ttft_ms']['mean'] == pytest.approx(300.0)
    assert m['ttft_ms']['p50'] == pytest.approx(300.0)
    assert m['ttft_ms']['count'] == 3
    # TPOT: (0.2-0.1)/3 and (0.4-0.3)/1
    assert m['tpot_ms']['count'] == 2
    assert m['tpot_ms']['mean'] == pytest.approx((100 / 3.0 + 100) / 2, abs=1e-3)
    # ITL pooled over requests
    assert m['itl_ms']['count'] == 4
    assert m['itl_ms']['max'] == pytest.approx(100.0)
    assert m['itl_ms']['p50'] == pytest.approx(40.0)
    assert m['e2el_ms']['p90'] == pytest.approx(480.0)


def test_calculate_metrics_all_failed():
    m = calculate_metrics([dict(success=False, error='x')] * 3, 1.0)
    assert m['completed'] == 0 and m['errors'] == 3
    assert m['request_throughput'] == 0
    assert m['ttft_ms']['mean'] is None


def test_custom_percentiles():
    m = calculate_metrics([dict(success=True, prompt_tokens=1, output_tokens=1, ttft=0.001, itl=[], latency=0.001)],
                          1.0, percentiles=[50, 99.9])
    assert set(m['ttft_ms']) == {'count', 'mean', 'std', 'min', 'max', 'p50', 'p99.9'}
