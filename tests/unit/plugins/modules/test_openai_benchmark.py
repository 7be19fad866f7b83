# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""openai_benchmark end to end against small local servers on 127.0.0.1.

Positive paths use a FAKE OpenAI-shaped server (canned tokens, no model), so
only the bookkeeping is tested here, not performance; the real benchmark
runs against vLLM in Molecule.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.llmops.vllm.plugins.modules import openai_benchmark
from ansible_collections.llmops.vllm.tests.unit.openai_test_server import (
    fake_openai_routes,
    free_port,
    send_json,
    send_sse,
    serve,
)

FAST = dict(timeout=0.5)
LATENCY_KEYS = {'count', 'mean', 'std', 'min', 'max', 'p50', 'p90', 'p99'}


def completions(srv):
    return [r for r in srv.requests if r['path'] == '/v1/completions']


def test_fake_server_benchmark(run_module):
    with serve(fake_openai_routes(models=['fake-model'], token_delay=0.002)) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, num_requests=8, concurrency=4, input_len=32,
                                                   output_len=6, **FAST))
    assert not result.get('failed'), result
    assert result['changed'] is False
    assert result['model'] == 'fake-model'
    assert result['endpoint'] == '/v1/completions'
    assert (result['num_requests'], result['concurrency']) == (8, 4)
    assert (result['completed'], result['errors'], result['error_messages']) == (8, 0, [])
    assert result['total_output_tokens'] == 8 * 6  # ignore_eos: exactly output_len each
    assert result['total_input_tokens'] == 8 * 32  # the fake counts words; the prompt has input_len words
    assert result['usage_source'] == 'server'
    assert result['ignore_eos_sent'] is True
    assert result['duration_s'] > 0
    # completed / duration (both rounded to 3 decimals in the result)
    assert abs(result['request_throughput'] - 8 / result['duration_s']) <= 0.02 * result['request_throughput']
    assert result['output_throughput'] > result['request_throughput']
    assert result['total_token_throughput'] > result['output_throughput']
    for key in ('ttft_ms', 'tpot_ms', 'itl_ms', 'e2el_ms'):
        assert set(result[key]) == LATENCY_KEYS, key
    assert result['ttft_ms']['count'] == 8
    assert result['itl_ms']['count'] == 8 * 5
    assert result['e2el_ms']['p50'] >= result['ttft_ms']['p50']
    # preflight + 8 timed, all streamed with usage and ignore_eos, distinct prompts
    sent = completions(srv)
    assert len(sent) == 9
    for req in sent:
        body = req['body']
        assert body['stream'] is True and body['ignore_eos'] is True and body['max_tokens'] == 6
        assert body['stream_options'] == {'include_usage': True}
        assert len(body['prompt'].split()) == 32
    assert len(set(r['body']['prompt'] for r in sent[1:])) == 8


def test_chunks_counted_without_usage(run_module):
    with serve(fake_openai_routes(usage=False)) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, num_requests=3, concurrency=3, output_len=5, **FAST))
    assert result['usage_source'] == 'chunks'
    assert result['total_output_tokens'] == 15
    assert result['total_input_tokens'] == 3 * 128  # estimated: input_len


def test_ignore_eos_rejected_is_dropped(run_module):
    with serve(fake_openai_routes(reject_fields=['ignore_eos'])) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, num_requests=2, output_len=10, **FAST))
    assert not result.get('failed'), result
    assert result['ignore_eos_sent'] is False
    assert any('ignore_eos' in w for w in result['_warnings'])
    assert result['total_output_tokens'] == 2 * 4  # the fake stops after its 4 canned tokens
    assert all('ignore_eos' not in r['body'] for r in completions(srv)[1:])


def test_ignore_eos_off(run_module):
    with serve(fake_openai_routes()) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, num_requests=1, ignore_eos=False, **FAST))
    assert result['ignore_eos_sent'] is False
    assert 'ignore_eos' not in completions(srv)[-1]['body']


def test_fixed_prompt_and_percentiles(run_module):
    with serve(fake_openai_routes()) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, num_requests=2, prompt='Hello there',
                                                   percentiles=[50, 99.9], num_warmups=2, **FAST))
    assert set(result['ttft_ms']) == {'count', 'mean', 'std', 'min', 'max', 'p50', 'p99.9'}
    assert result['input_len'] is None
    sent = completions(srv)
    assert len(sent) == 1 + 2 + 2  # preflight, warmups, timed
    assert all(r['body']['prompt'] == 'Hello there' for r in sent)


def test_connection_refused(run_module):
    result = run_module(openai_benchmark, dict(url='http://127.0.0.1:%d' % free_port(), **FAST))
    assert result['failed'] is True
    assert 'connection refused' in result['msg']


def test_model_not_served(run_module):
    with serve(fake_openai_routes(models=['alpha', 'beta'])) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, model='gamma', **FAST))
    assert result['failed'] is True
    assert 'served models: alpha, beta' in result['msg']


def test_preflight_failure(run_module):
    routes = fake_openai_routes()
    routes[('POST', '/v1/completions')] = lambda h, b: send_json(h, 500, {'error': {'message': 'engine dead'}})
    with serve(routes) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, **FAST))
    assert result['failed'] is True
    assert result['msg'].startswith('The initial test request failed, not starting the benchmark: HTTP 500')
    assert 'engine dead' in result['msg']
    assert len(completions(srv)) == 1


def flaky_routes(fail_when):
    """Fake routes whose completions fail (HTTP 500) when ``fail_when(n)`` for the n-th call (0 = preflight)."""
    routes = fake_openai_routes()
    good = routes[('POST', '/v1/completions')]
    lock = threading.Lock()
    calls = []

    def completions_route(handler, body):
        with lock:
            n = len(calls)
            calls.append(n)
        if fail_when(n):
            send_json(handler, 500, {'error': {'message': 'request %d failed' % n}})
        else:
            good(handler, body)

    routes[('POST', '/v1/completions')] = completions_route
    return routes


def test_all_requests_fail(run_module):
    with serve(flaky_routes(lambda n: n > 0)) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, num_requests=6, concurrency=2, max_error_messages=2,
                                                   **FAST))
    assert result['failed'] is True
    assert result['msg'].startswith('All 6 benchmark requests failed; first error: HTTP 500')
    assert result['completed'] == 0 and result['errors'] == 6
    assert len(result['error_messages']) == 2
    assert result['ttft_ms']['mean'] is None


def test_some_requests_fail(run_module):
    with serve(flaky_routes(lambda n: n in (2, 4))) as srv:
        args = dict(url=srv.url, num_requests=6, concurrency=1, output_len=3, **FAST)
        result = run_module(openai_benchmark, args)
        assert not result.get('failed'), result
        assert (result['completed'], result['errors']) == (4, 2)
        assert [m.split('Server said: ')[1] for m in result['error_messages']] == ['request 2 failed',
                                                                                   'request 4 failed']
        assert result['total_output_tokens'] == 4 * 3
    with serve(flaky_routes(lambda n: n == 3)) as srv:
        result = run_module(openai_benchmark, dict(args, url=srv.url, fail_on_error=True))
    assert result['failed'] is True
    assert result['msg'].startswith('1 of 6 benchmark requests failed')


def test_broken_streams_are_errors(run_module):
    routes = fake_openai_routes()
    good = routes[('POST', '/v1/completions')]
    calls = []

    def sometimes_broken(handler, body):
        calls.append(1)
        if len(calls) == 2:
            send_sse(handler, [{'choices': [{'index': 0, 'text': 'a'}]}], done=False, chunked=False)
        else:
            good(handler, body)

    routes[('POST', '/v1/completions')] = sometimes_broken
    with serve(routes) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, num_requests=3, concurrency=1, **FAST))
    assert result['errors'] == 1
    assert 'broke off after 1 chunks' in result['error_messages'][0]


def test_wait_timeout_server_comes_up_late(run_module):
    port = free_port()
    state = {}

    def start_late():
        time.sleep(0.3)
        state['cm'] = serve(fake_openai_routes(), port=port)
        state['cm'].__enter__()

    thread = threading.Thread(target=start_late)
    thread.start()
    try:
        result = run_module(openai_benchmark, dict(url='http://127.0.0.1:%d' % port, num_requests=2,
                                                   wait_timeout=10, wait_interval=0.1, **FAST))
    finally:
        thread.join()
        if 'cm' in state:
            state['cm'].__exit__(None, None, None)
    assert not result.get('failed'), result
    assert result['wait_attempts'] > 1
    assert result['completed'] == 2


def test_invalid_arguments(run_module):
    for bad in (dict(concurrency=0), dict(num_requests=0), dict(output_len=0), dict(input_len=0),
                dict(percentiles=[50, 101])):
        result = run_module(openai_benchmark, dict(bad, url='http://127.0.0.1:1'))
        assert result['failed'] is True, bad
        assert list(bad)[0] in result['msg']


def test_check_mode_runs(run_module):
    with serve(fake_openai_routes()) as srv:
        result = run_module(openai_benchmark, dict(url=srv.url, num_requests=1, **FAST), check_mode=True)
    assert result['completed'] == 1
    assert result['changed'] is False
