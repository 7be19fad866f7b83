# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""benchmark_report: the report of openai_benchmark results from several hosts.

The input is a REAL openai_benchmark result (fixtures/openai_benchmark_cpu_tiny.json: the registered
result of llmops.vllm.openai_benchmark against vLLM's CPU backend serving the tiny test model, see
the fixture's README) plus variations of it (a faster "GPU" host, a failed host, other shapes).
"""

from __future__ import annotations

import copy
import json
import os
import struct

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils import _bench_report as br
from ansible_collections.llmops.vllm.plugins.modules import benchmark_report

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')


def real_result():
    with open(os.path.join(FIXTURES, 'openai_benchmark_cpu_tiny.json'), encoding='utf-8') as f:
        return json.load(f)


def faster(result, factor):
    """The real result as if the server were ``factor`` times faster (a GPU host of the same shape)."""
    out = copy.deepcopy(result)
    for key in ('request_throughput', 'output_throughput', 'total_token_throughput'):
        out[key] = round(out[key] * factor, 3)
    out['duration_s'] = round(out['duration_s'] / factor, 3)
    for key in ('ttft_ms', 'tpot_ms', 'itl_ms', 'e2el_ms'):
        out[key] = dict((k, v if k == 'count' or v is None else round(v / factor, 3)) for k, v in out[key].items())
    return out


def hosts_input():
    cpu = real_result()
    return [
        dict(host='cpu-1', group='cpu_hosts', result=cpu, info=dict(prefix_caching=False, vllm_version='0.32.0')),
        dict(host='gpu-1', group='gpu_hosts', result=faster(cpu, 80.0), info=dict(prefix_caching=False)),
    ]


def png_size(data):
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    return struct.unpack('>II', data[16:24])


def test_fixture_is_a_real_benchmark_result():
    res = real_result()
    assert res['completed'] == res['num_requests'] and res['errors'] == 0
    assert res['usage_source'] == 'server'
    assert res['total_output_tokens'] == res['num_requests'] * res['output_len']
    assert set(res['ttft_ms']) >= {'count', 'mean', 'p50', 'p90', 'p99'}


def test_writes_markdown_png_json(run_module, tmp_path):
    dest = tmp_path / 'artifacts' / 'benchmark-x'
    result = run_module(benchmark_report, dict(dest=str(dest), results=hosts_input(),
                                               metadata={'started': '2025-01-01T00:00:00Z'}))
    assert not result.get('failed'), result
    assert result['changed'] is True
    assert sorted(result['written']) == ['chart', 'json', 'markdown']
    assert result['files'] == dict(markdown=str(dest / 'benchmark.md'), json=str(dest / 'benchmark.json'),
                                   chart=str(dest / 'benchmark.png'))
    assert result['comparable'] is True
    cpu = real_result()
    assert result['request_shape'] == dict(num_requests=cpu['num_requests'], concurrency=cpu['concurrency'],
                                           input_len=cpu['input_len'], output_len=cpu['output_len'],
                                           ignore_eos_sent=True)
    # GPU group first (group_order), then CPU.
    assert [h['host'] for h in result['hosts']] == ['gpu-1', 'cpu-1']
    assert [g['label'] for g in result['groups']] == ['GPU', 'CPU']
    assert result['groups'][1]['output_throughput_total'] == cpu['output_throughput']
    assert result['warnings_list'] == [] and result['_warnings'] == []

    report = json.loads((dest / 'benchmark.json').read_text())
    row = report['hosts'][1]
    assert row['host'] == 'cpu-1' and row['group_label'] == 'CPU' and row['status'] == 'ok'
    for key in ('completed', 'errors', 'output_throughput', 'request_throughput', 'total_input_tokens',
                'total_output_tokens', 'duration_s', 'model'):
        assert row[key] == cpu[key], key
    assert row['ttft_ms']['p99'] == cpu['ttft_ms']['p99']
    assert report['metadata'] == {'started': '2025-01-01T00:00:00Z'}

    md = (dest / 'benchmark.md').read_text()
    assert md.startswith('# vLLM benchmark\n')
    assert '![vLLM benchmark](benchmark.png)' in md
    assert '| cpu-1 | CPU | ok | %s | %d/%d | 0 |' % (cpu['model'], cpu['completed'], cpu['num_requests']) in md
    assert '%.1f' % cpu['output_throughput'] in md
    assert '| cpu-1 | TTFT | %d | %.1f |' % (cpu['ttft_ms']['count'], cpu['ttft_ms']['mean']) in md
    assert '## By group' in md and '- **started**: 2025-01-01T00:00:00Z' in md

    width, height = png_size((dest / 'benchmark.png').read_bytes())
    assert width >= 800 and height == 800


def test_second_run_changes_nothing(run_module, tmp_path):
    args = dict(dest=str(tmp_path), results=hosts_input())
    first = run_module(benchmark_report, args)
    stamps = dict((p, os.stat(str(tmp_path / p)).st_mtime_ns) for p in os.listdir(str(tmp_path)))
    second = run_module(benchmark_report, args)
    assert first['changed'] is True
    assert second['changed'] is False and second['written'] == []
    assert stamps == dict((p, os.stat(str(tmp_path / p)).st_mtime_ns) for p in os.listdir(str(tmp_path)))


def test_check_mode_writes_nothing(run_module, tmp_path):
    dest = tmp_path / 'new'
    result = run_module(benchmark_report, dict(dest=str(dest), results=hosts_input()), check_mode=True)
    assert result['changed'] is True
    assert sorted(result['written']) == ['chart', 'json', 'markdown']
    assert not dest.exists()


def test_changed_input_rewrites_only_what_differs(run_module, tmp_path):
    run_module(benchmark_report, dict(dest=str(tmp_path), results=hosts_input(), chart=False))
    result = run_module(benchmark_report, dict(dest=str(tmp_path), results=hosts_input(), chart=False,
                                               title='Other title'))
    assert result['changed'] is True
    assert sorted(result['written']) == ['json', 'markdown']


def test_failed_host_is_reported_not_fatal(run_module, tmp_path):
    items = hosts_input() + [dict(host='gpu-2', group='gpu_hosts', failed=True,
                                  msg='Cannot connect to POST http://127.0.0.1:8000/v1/completions')]
    result = run_module(benchmark_report, dict(dest=str(tmp_path), results=items))
    assert not result.get('failed'), result
    assert [h['host'] for h in result['hosts']] == ['gpu-1', 'gpu-2', 'cpu-1']
    gpu2 = result['hosts'][1]
    assert gpu2['status'] == 'failed' and gpu2['output_throughput'] is None
    assert result['groups'][0]['ok_hosts'] == 1 and result['groups'][0]['failed_hosts'] == 1
    assert any('gpu-2: the benchmark failed: Cannot connect' in w for w in result['_warnings'])
    md = (tmp_path / 'benchmark.md').read_text()
    assert '| gpu-2 | GPU | failed |' in md and '## Errors' in md
    assert png_size((tmp_path / 'benchmark.png').read_bytes())


def test_result_of_a_failed_module_counts_as_failed(run_module, tmp_path):
    res = real_result()
    res.update(failed=True, errors=2, completed=res['num_requests'] - 2,
               msg='2 of %d benchmark requests failed' % res['num_requests'],
               error_messages=['HTTP 500 Internal Server Error', 'HTTP 500 Internal Server Error'])
    result = run_module(benchmark_report, dict(dest=str(tmp_path), results=[dict(host='h', result=res)], chart=False))
    assert result['hosts'][0]['status'] == 'failed'
    assert result['hosts'][0]['error_messages'][0] == 'HTTP 500 Internal Server Error'
    # An ungrouped single host gets no "By group" section.
    assert '## By group' not in (tmp_path / 'benchmark.md').read_text()


def test_requests_with_errors_warn(run_module, tmp_path):
    res = real_result()
    res.update(errors=1, completed=res['num_requests'] - 1, error_messages=['timed out'])
    result = run_module(benchmark_report, dict(dest=str(tmp_path), results=[dict(host='h', result=res)], chart=False))
    assert result['hosts'][0]['status'] == 'ok'
    assert result['_warnings'] == ['h: 1 of %d requests failed' % res['num_requests']]


def test_different_shapes_are_not_comparable(run_module, tmp_path):
    items = hosts_input()
    items[1]['result']['concurrency'] = 64
    result = run_module(benchmark_report, dict(dest=str(tmp_path), results=items, chart=False))
    assert result['comparable'] is False and result['request_shape'] is None
    assert 'not comparable' in result['_warnings'][0]
    assert 'concurrency=64' in result['_warnings'][0]


def test_prefix_caching_warns(run_module, tmp_path):
    items = hosts_input()
    items[0]['info']['prefix_caching'] = True
    result = run_module(benchmark_report, dict(dest=str(tmp_path), results=items, chart=False))
    assert any('cpu-1: prefix caching is enabled' in w and '--no-enable-prefix-caching' in w
               for w in result['_warnings'])


def test_chart_false_needs_no_matplotlib(run_module, tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark_report, 'HAS_MATPLOTLIB', False)
    result = run_module(benchmark_report, dict(dest=str(tmp_path), results=hosts_input(), chart=False))
    assert not result.get('failed'), result
    assert 'chart' not in result['files']
    assert sorted(os.listdir(str(tmp_path))) == ['benchmark.json', 'benchmark.md']
    assert '![' not in (tmp_path / 'benchmark.md').read_text()


def test_missing_matplotlib_fails_clearly(run_module, tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark_report, 'HAS_MATPLOTLIB', False)
    result = run_module(benchmark_report, dict(dest=str(tmp_path), results=hosts_input()))
    assert result['failed'] is True
    assert 'matplotlib' in result['msg'] and 'chart=false' in result['msg']


@pytest.mark.parametrize('args, error', [
    (dict(results=[]), 'results must be a non-empty list'),
    (dict(results=[dict(host='a', result={}), dict(host='a', result={})]), 'more than once: a'),
    (dict(percentiles=['p101']), 'not between 0 and 100'),
    (dict(percentiles=['median']), 'is not a number'),
    (dict(name='a/b'), 'plain file name'),
])
def test_bad_input(run_module, tmp_path, args, error):
    full = dict(dest=str(tmp_path / 'd'), results=hosts_input(), chart=False)
    full.update(args)
    result = run_module(benchmark_report, full)
    assert result['failed'] is True
    assert error in result['msg']
    assert not (tmp_path / 'd').exists()


def test_name_mode_and_labels(run_module, tmp_path):
    result = run_module(benchmark_report, dict(dest=str(tmp_path), results=hosts_input(), name='nightly',
                                               mode='0600', chart=False, group_labels={'cpu_hosts': 'Xeon'},
                                               group_order=['cpu_hosts']))
    assert result['files']['markdown'].endswith('/nightly.md')
    assert os.stat(result['files']['json']).st_mode & 0o777 == 0o600
    assert [g['label'] for g in result['groups']] == ['Xeon', 'GPU']


def test_percentiles_not_computed_show_as_missing(tmp_path):
    report = br.build_report(hosts_input(), percentiles=[50, 99.9])
    assert report['chart_percentiles'] == ['p50', 'p99.9']
    md = br.render_markdown(report)
    assert '| host | metric | n | mean | p50 | p99.9 | max |' in md
    assert br.render_chart(report)[:4] == b'\x89PNG'


def test_chart_is_deterministic_and_scales():
    report = br.build_report(hosts_input())
    assert br.render_chart(report) == br.render_chart(report)
    assert br.render_chart(report, scale='log') != br.render_chart(report, scale='linear')
    assert br._use_log([1.0, 80.0], 'auto') is True  # GPU next to CPU
    assert br._use_log([1.0, 20.0], 'auto') is False
    assert br._use_log([0, 0], 'auto') is False
    assert br._use_log([1.0, 2.0], 'log') is True
