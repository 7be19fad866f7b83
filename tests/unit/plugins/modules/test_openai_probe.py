# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""openai_probe end to end against small local servers on 127.0.0.1.

Positive paths use a FAKE OpenAI-shaped server (canned tokens, no model):
they test the module's logic only. The real positive-path test against a
real vLLM server runs in Molecule verify. Failure paths use servers that
misbehave in one specific way each.
"""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.llmops.vllm.plugins.modules import openai_probe
from ansible_collections.llmops.vllm.tests.unit.openai_test_server import (
    fake_openai_routes,
    free_port,
    send_json,
    send_raw,
    send_sse,
    serve,
)

ALL = ['health', 'models', 'completion', 'chat', 'stream']
FAST = dict(timeout=0.5)


def test_fake_server_all_checks(run_module):
    with serve(fake_openai_routes(models=['fake-model', 'other'])) as srv:
        result = run_module(openai_probe, dict(url=srv.url, checks=ALL, max_tokens=8, **FAST))
    assert not result.get('failed'), result
    assert result['changed'] is False
    assert result['healthy'] is True
    assert result['models'] == ['fake-model', 'other']
    assert result['model'] == 'fake-model'  # first served model
    assert result['version'] == '0.0.0-fake'
    assert result['url'] == srv.url
    assert result['wait_attempts'] == 1
    res = result['check_results']
    assert list(res) == ALL
    assert all(r['ok'] and r['status'] == 200 and r['latency_ms'] >= 0 for r in res.values())
    assert res['models']['models'] == ['fake-model', 'other']
    assert res['completion']['text'] == 'Hello, world!'
    assert res['completion']['usage'] == dict(prompt_tokens=5, completion_tokens=4, total_tokens=9)
    assert res['chat']['text'] == 'Hello, world!'
    assert res['chat']['finish_reason'] == 'length'
    stream = res['stream']
    assert stream['text'] == 'Hello, world!'
    assert stream['output_tokens'] == 4
    assert stream['usage_source'] == 'server'
    assert stream['chunks'] == 4
    assert stream['ttft_ms'] >= 0
    assert stream['tokens_per_s'] > 0
    assert stream['latency_ms'] >= stream['ttft_ms']
    # what went over the wire
    posts = [r for r in srv.requests if r['method'] == 'POST']
    assert posts[0]['path'] == '/v1/completions'
    assert posts[0]['body'] == dict(model='fake-model', prompt='The capital of France is', max_tokens=8,
                                    temperature=0.0)
    assert posts[1]['body']['messages'] == [dict(role='user', content='The capital of France is')]
    assert posts[2]['body']['stream'] is True
    assert posts[2]['body']['stream_options'] == dict(include_usage=True)


def test_default_checks_and_messages(run_module):
    messages = [dict(role='system', content='Be brief.'), dict(role='user', content='Hi')]
    with serve(fake_openai_routes()) as srv:
        result = run_module(openai_probe, dict(url=srv.url + '/v1/', messages=messages, **FAST))
    assert not result.get('failed'), result
    assert list(result['check_results']) == ['health', 'models', 'chat']
    assert result['url'] == srv.url
    chat = [r for r in srv.requests if r['path'] == '/v1/chat/completions'][0]
    assert chat['body']['messages'] == messages


def test_check_mode_still_probes(run_module):
    with serve(fake_openai_routes()) as srv:
        result = run_module(openai_probe, dict(url=srv.url, checks=['health'], **FAST), check_mode=True)
    assert result['healthy'] is True
    assert result['changed'] is False


def test_api_key_sent(run_module):
    with serve(fake_openai_routes(api_key='s3cret')) as srv:
        result = run_module(openai_probe, dict(url=srv.url, api_key='s3cret', **FAST))
    assert result['healthy'] is True, result
    assert srv.requests[-1]['headers']['Authorization'] == 'Bearer s3cret'
    from ansible_collections.llmops.vllm.plugins.module_utils._openai_client import endpoint_argument_spec
    assert endpoint_argument_spec()['api_key']['no_log'] is True


def test_401_missing_api_key(run_module):
    with serve(fake_openai_routes(api_key='s3cret')) as srv:
        result = run_module(openai_probe, dict(url=srv.url, **FAST))
    assert result['failed'] is True
    assert result['healthy'] is False
    assert 'models check failed' in result['msg']
    assert 'HTTP 401' in result['msg']
    assert 'authentication failed - check api_key' in result['msg']
    assert 'Server said: Unauthorized' in result['msg']
    assert result['check_results']['models']['kind'] == 'auth'
    assert result['check_results']['models']['status'] == 401
    assert result['check_results']['health']['ok'] is True


def test_403_forbidden(run_module):
    routes = {('GET', '/health'): lambda h, b: send_json(h, 403, {'detail': 'Not allowed from this network'})}
    with serve(routes) as srv:
        result = run_module(openai_probe, dict(url=srv.url, checks=['health'], **FAST))
    assert result['failed'] is True
    assert 'HTTP 403' in result['msg'] and 'authentication failed - check api_key' in result['msg']
    assert 'Not allowed from this network' in result['msg']


def test_connection_refused(run_module):
    url = 'http://127.0.0.1:%d' % free_port()
    start = time.monotonic()
    result = run_module(openai_probe, dict(url=url, **FAST))
    assert time.monotonic() - start < 5
    assert result['failed'] is True
    assert 'health check failed' in result['msg']
    assert 'connection refused' in result['msg']
    assert 'is the server running' in result['msg']
    assert result['check_results']['health']['kind'] == 'connection'
    assert result['version'] is None


def test_timeout(run_module):
    def slow(handler, body):
        handler.server.release.wait(5)
        send_raw(handler, 200, b'')

    with serve({('GET', '/health'): slow}) as srv:
        start = time.monotonic()
        result = run_module(openai_probe, dict(url=srv.url, checks=['health'], timeout=0.3))
        elapsed = time.monotonic() - start
    assert elapsed < 3
    assert result['failed'] is True
    assert 'Timed out after 0.3s waiting for GET %s/health' % srv.url in result['msg']
    assert result['check_results']['health']['kind'] == 'timeout'


def test_http_500_with_error_json(run_module):
    routes = fake_openai_routes()
    routes[('POST', '/v1/chat/completions')] = lambda h, b: send_json(h, 500, {'error': {
        'message': 'CUDA out of memory. Tried to allocate 2.00 GiB', 'type': 'InternalServerError', 'code': 500}})
    with serve(routes) as srv:
        result = run_module(openai_probe, dict(url=srv.url, **FAST))
    assert result['failed'] is True
    assert result['msg'].startswith('chat check failed: HTTP 500 Internal Server Error from POST %s' % srv.url)
    assert 'Server said: CUDA out of memory. Tried to allocate 2.00 GiB' in result['msg']
    assert result['check_results']['chat']['status'] == 500
    assert result['check_results']['models']['ok'] is True


@pytest.mark.parametrize('status,body,expected', [
    (400, {'message': 'max_tokens must be at least 1'}, 'max_tokens must be at least 1'),
    (422, {'detail': [{'loc': ['body', 'max_tokens'], 'msg': 'Input should be a valid integer'}]},
     'body.max_tokens: Input should be a valid integer'),
    (404, {'detail': 'Not Found'}, 'Not Found'),
])
def test_http_error_message_shapes(run_module, status, body, expected):
    routes = fake_openai_routes()
    routes[('POST', '/v1/completions')] = lambda h, b: send_json(h, status, body)
    with serve(routes) as srv:
        result = run_module(openai_probe, dict(url=srv.url, checks=['completion'], **FAST))
    assert result['failed'] is True
    assert 'HTTP %d' % status in result['msg']
    assert expected in result['msg']


def test_non_json_body(run_module):
    routes = fake_openai_routes()
    routes[('GET', '/v1/models')] = lambda h, b: send_raw(h, 200, '<html><body>Welcome to nginx!</body></html>',
                                                          content_type='text/html')
    with serve(routes) as srv:
        result = run_module(openai_probe, dict(url=srv.url, **FAST))
    assert result['failed'] is True
    assert 'expected JSON but got text/html body' in result['msg']
    assert 'Welcome to nginx!' in result['msg']
    assert result['check_results']['models']['kind'] == 'invalid_response'


def test_truncated_body(run_module):
    routes = fake_openai_routes()
    routes[('GET', '/v1/models')] = lambda h, b: send_raw(h, 200, b'{"object": "li', length=1000, close=True)
    with serve(routes) as srv:
        result = run_module(openai_probe, dict(url=srv.url, **FAST))
    assert result['failed'] is True
    assert 'Truncated response from GET %s/v1/models: received 14 of 1000 bytes' % srv.url in result['msg']
    assert result['check_results']['models']['kind'] == 'truncated'


def test_model_not_served(run_module):
    with serve(fake_openai_routes(models=['alpha', 'beta'])) as srv:
        result = run_module(openai_probe, dict(url=srv.url, model='gamma', **FAST))
    assert result['failed'] is True
    assert "Model 'gamma' is not served by %s/v1/models; served models: alpha, beta" % srv.url in result['msg']
    assert result['models'] == ['alpha', 'beta']
    assert result['check_results']['models']['kind'] == 'model_not_found'
    assert 'chat' not in result['check_results']


def test_stream_breaks_off(run_module):
    routes = fake_openai_routes()
    events = [{'choices': [{'index': 0, 'text': 'Hel'}]}, {'choices': [{'index': 0, 'text': 'lo'}]}]
    routes[('POST', '/v1/completions')] = lambda h, b: send_sse(h, events, done=False, chunked=False)
    with serve(routes) as srv:
        result = run_module(openai_probe, dict(url=srv.url, checks=['stream'], **FAST))
    assert result['failed'] is True
    assert 'stream check failed' in result['msg']
    assert "broke off after 2 chunks: the server closed the connection before 'data: [DONE]'" in result['msg']


def test_stream_cut_inside_a_chunk(run_module):
    routes = fake_openai_routes()
    events = [{'choices': [{'index': 0, 'text': 'Hel'}]}]
    routes[('POST', '/v1/completions')] = lambda h, b: send_sse(h, events, break_chunk=True)
    with serve(routes) as srv:
        result = run_module(openai_probe, dict(url=srv.url, checks=['stream'], **FAST))
    assert result['failed'] is True
    assert 'broke off after 1 chunks' in result['msg']
    assert result['check_results']['stream']['kind'] == 'stream'


def test_stream_stalls(run_module):
    def stall(handler, body):
        send_sse_head_and_one_event(handler)
        handler.server.release.wait(5)

    routes = fake_openai_routes()
    routes[('POST', '/v1/completions')] = stall
    with serve(routes) as srv:
        start = time.monotonic()
        result = run_module(openai_probe, dict(url=srv.url, checks=['stream'], timeout=0.3))
        assert time.monotonic() - start < 3
    assert result['failed'] is True
    assert 'Timed out after 0.3s waiting for the next event of the stream' in result['msg']
    assert '(after 1 chunks)' in result['msg']


def send_sse_head_and_one_event(handler):
    handler.send_response(200)
    handler.send_header('Content-Type', 'text/event-stream')
    handler.send_header('Transfer-Encoding', 'chunked')
    handler.end_headers()
    data = b'data: {"choices": [{"index": 0, "text": "x"}]}\n\n'
    handler.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
    handler.wfile.flush()
    handler.close_connection = True


def test_stream_error_event(run_module):
    routes = fake_openai_routes()
    events = [{'choices': [{'index': 0, 'text': 'a'}]},
              {'error': {'message': 'engine died', 'type': 'InternalServerError', 'code': 500}}]
    routes[('POST', '/v1/completions')] = lambda h, b: send_sse(h, events)
    with serve(routes) as srv:
        result = run_module(openai_probe, dict(url=srv.url, checks=['stream'], **FAST))
    assert result['failed'] is True
    assert 'reported an error in the stream' in result['msg'] and 'engine died' in result['msg']


def test_stream_without_usage_counts_chunks(run_module):
    with serve(fake_openai_routes(usage=False)) as srv:
        result = run_module(openai_probe, dict(url=srv.url, checks=['stream'], **FAST))
    stream = result['check_results']['stream']
    assert stream['usage_source'] == 'chunks'
    assert stream['output_tokens'] == 4
    assert stream['usage'] is None


def test_wait_timeout_server_comes_up_late(run_module):
    port = free_port()
    state = {}

    def start_late():
        time.sleep(0.4)
        state['cm'] = serve(fake_openai_routes(), port=port)
        state['srv'] = state['cm'].__enter__()

    thread = threading.Thread(target=start_late)
    thread.start()
    try:
        result = run_module(openai_probe, dict(url='http://127.0.0.1:%d' % port, wait_timeout=10,
                                               wait_interval=0.1, **FAST))
    finally:
        thread.join()
        if 'cm' in state:
            state['cm'].__exit__(None, None, None)
    assert not result.get('failed'), result
    assert result['healthy'] is True
    assert result['wait_attempts'] > 1
    assert result['elapsed_s'] < 5


def test_wait_timeout_retries_503_until_ready(run_module):
    calls = []

    def health(handler, body):
        calls.append(1)
        if len(calls) < 3:
            send_json(handler, 503, {'message': 'engine is starting'})
        else:
            send_raw(handler, 200, b'')

    routes = fake_openai_routes()
    routes[('GET', '/health')] = health
    with serve(routes) as srv:
        result = run_module(openai_probe, dict(url=srv.url, wait_timeout=5, wait_interval=0.05, **FAST))
    assert result['healthy'] is True, result
    assert result['wait_attempts'] == 3


def test_wait_timeout_does_not_retry_auth_failures(run_module):
    with serve(fake_openai_routes(api_key='k')) as srv:
        start = time.monotonic()
        result = run_module(openai_probe, dict(url=srv.url, api_key='wrong', wait_timeout=10, wait_interval=0.05,
                                               **FAST))
        assert time.monotonic() - start < 2
    assert result['failed'] is True
    assert result['wait_attempts'] == 1
    assert 'check api_key' in result['msg']


def test_wait_timeout_gives_up(run_module):
    url = 'http://127.0.0.1:%d' % free_port()
    start = time.monotonic()
    result = run_module(openai_probe, dict(url=url, wait_timeout=0.5, wait_interval=0.1, **FAST))
    elapsed = time.monotonic() - start
    assert 0.4 < elapsed < 3
    assert result['failed'] is True
    assert result['wait_attempts'] >= 3
    assert 'still failing after %d tries' % result['wait_attempts'] in result['msg']
    assert 'wait_timeout=0.5' in result['msg']


def test_bad_url(run_module):
    result = run_module(openai_probe, dict(url='127.0.0.1:8000'))
    assert result['failed'] is True
    assert 'url must start with http:// or https://' in result['msg']


def test_no_checks(run_module):
    result = run_module(openai_probe, dict(url='http://127.0.0.1:1', checks=[]))
    assert result['failed'] is True
    assert 'checks must name at least one' in result['msg']


def test_unknown_check_rejected(run_module):
    result = run_module(openai_probe, dict(url='http://127.0.0.1:1', checks=['health', 'bogus']))
    assert result['failed'] is True
    assert 'bogus' in result['msg']


def test_https_untrusted_certificate(run_module, tmp_path):
    """A TLS failure is a clear message too (plain-HTTP server behind an https:// URL)."""
    with serve(fake_openai_routes()) as srv:
        url = srv.url.replace('http://', 'https://')
        result = run_module(openai_probe, dict(url=url, checks=['health'], **FAST))
    assert result['failed'] is True
    assert 'health check failed' in result['msg']
    assert 'Traceback' not in result['msg']
