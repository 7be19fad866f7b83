# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils._openai_client and _openai_bench below the modules."""

from __future__ import annotations

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils import _openai_bench as bench
from ansible_collections.llmops.vllm.plugins.module_utils._openai_client import (
    OpenAIClient,
    OpenAIError,
    extract_error_message,
    normalize_base_url,
    retry_until,
)
from ansible_collections.llmops.vllm.tests.unit.openai_test_server import (
    fake_openai_routes,
    free_port,
    send_raw,
    serve,
)


@pytest.mark.parametrize('url,expected', [
    ('http://127.0.0.1:8000', 'http://127.0.0.1:8000'),
    ('http://127.0.0.1:8000/', 'http://127.0.0.1:8000'),
    ('http://127.0.0.1:8000/v1', 'http://127.0.0.1:8000'),
    ('https://llm.example.com/v1/', 'https://llm.example.com'),
    ('https://example.com/prefix', 'https://example.com/prefix'),
])
def test_normalize_base_url(url, expected):
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize('url', ['', '127.0.0.1:8000', 'ftp://x', 'http://'])
def test_normalize_base_url_rejects(url):
    with pytest.raises(OpenAIError) as exc:
        normalize_base_url(url)
    assert exc.value.kind == 'config'


@pytest.mark.parametrize('body,expected', [
    (b'{"error": {"message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}}',
     'The model `x` does not exist.'),
    (b'{"error": "Unauthorized"}', 'Unauthorized'),
    (b'{"object": "error", "message": "bad request", "code": 400}', 'bad request'),
    (b'{"detail": "Not Found"}', 'Not Found'),
    (b'{"detail": [{"loc": ["body", "messages"], "msg": "Field required", "type": "missing"}]}',
     'body.messages: Field required'),
    (b'<html>502 Bad Gateway</html>', '<html>502 Bad Gateway</html>'),
    (b'', ''),
    (b'x' * 500, 'x' * 200 + '...'),
])
def test_extract_error_message(body, expected):
    assert extract_error_message(body) == expected


def test_retry_until_stops_on_done():
    clock = [0.0]
    sleeps = []

    def fake_sleep(s):
        sleeps.append(s)
        clock[0] += s

    results = iter([1, 2, 3, 4])
    res, attempts, elapsed = retry_until(lambda: next(results), 10, 1, lambda r: r == 3,
                                         clock=lambda: clock[0], sleep=fake_sleep)
    assert (res, attempts, elapsed) == (3, 3, 2.0)
    assert sleeps == [1, 1]


def test_retry_until_deadline():
    clock = [0.0]

    def fake_sleep(s):
        clock[0] += s

    res, attempts, elapsed = retry_until(lambda: 'no', 2.5, 1, lambda r: False,
                                         clock=lambda: clock[0], sleep=fake_sleep)
    assert attempts == 4  # t=0, 1, 2, 2.5
    assert elapsed == 2.5


def test_stream_timings_follow_vllm():
    """TTFT at the first chunk with choices, one ITL per further chunk, usage chunk ignored for timing."""
    ticks = iter([0.0, 0.25, 0.3, 0.4, 0.45, 99.0])
    with serve(fake_openai_routes()) as srv:
        client = OpenAIClient(srv.url, timeout=1)
        res = client.stream('/v1/completions', dict(model='fake-model', prompt='x', max_tokens=4, stream=True,
                                                    stream_options=dict(include_usage=True)),
                            clock=lambda: next(ticks))
    assert res.text == 'Hello, world!'
    assert res.ttft == 0.25
    assert res.itl == pytest.approx([0.05, 0.1, 0.05])
    assert res.latency == 0.45
    assert res.output_tokens == 4 and res.usage_source == 'server'
    assert res.finish_reason == 'length'


def test_chat_stream_parses_deltas():
    with serve(fake_openai_routes()) as srv:
        client = OpenAIClient(srv.url, timeout=1)
        res = client.stream('/v1/chat/completions', dict(model='fake-model', messages=[dict(role='user', content='x')],
                                                         max_tokens=4, stream=True))
    assert res.text == 'Hello, world!'
    assert res.chunks == 5  # role chunk + 4 tokens, counted like vllm bench does
    assert res.usage is None and res.usage_source == 'chunks'


def test_stream_with_comments_and_other_fields():
    def handler(h, body):
        send_raw(h, 200, b': ping\n\nevent: message\nid: 1\ndata: {"choices": [{"index": 0, "text": "a"}]}\n\n'
                         b'data:{"choices": [{"index": 0, "text": "b"}]}\n\ndata: [DONE]\n\n',
                 content_type='text/event-stream')

    with serve({('POST', '/v1/completions'): handler}) as srv:
        res = OpenAIClient(srv.url, timeout=1).stream('/v1/completions', dict(prompt='x'))
    assert res.text == 'ab'
    assert res.chunks == 2


def test_stream_invalid_json_event():
    def handler(h, body):
        send_raw(h, 200, b'data: {not json\n\n', content_type='text/event-stream')

    with serve({('POST', '/v1/completions'): handler}) as srv:
        with pytest.raises(OpenAIError) as exc:
            OpenAIClient(srv.url, timeout=1).stream('/v1/completions', dict(prompt='x'))
    assert 'Invalid event in the stream' in exc.value.msg


def test_stream_without_token_chunks():
    def handler(h, body):
        send_raw(h, 200, b'data: [DONE]\n\n', content_type='text/event-stream')

    with serve({('POST', '/v1/completions'): handler}) as srv:
        with pytest.raises(OpenAIError) as exc:
            OpenAIClient(srv.url, timeout=1).stream('/v1/completions', dict(prompt='x'))
    assert 'ended without any token chunk' in exc.value.msg


def test_stream_request_answered_with_plain_json():
    def handler(h, body):
        send_raw(h, 200, b'{"choices": [{"text": "not streamed"}]}')

    with serve({('POST', '/v1/completions'): handler}) as srv:
        with pytest.raises(OpenAIError) as exc:
            OpenAIClient(srv.url, timeout=1).stream('/v1/completions', dict(prompt='x'))
    assert 'is not an event stream (Content-Type: application/json)' in exc.value.msg
    assert 'not streamed' in exc.value.msg


def test_loopback_bypasses_environment_proxy(monkeypatch):
    monkeypatch.setenv('http_proxy', 'http://127.0.0.1:%d' % free_port())
    monkeypatch.setenv('HTTP_PROXY', 'http://127.0.0.1:%d' % free_port())
    monkeypatch.delenv('no_proxy', raising=False)
    monkeypatch.delenv('NO_PROXY', raising=False)
    with serve(fake_openai_routes()) as srv:
        assert OpenAIClient(srv.url, timeout=1).health().status == 200
        assert OpenAIClient(srv.url.replace('127.0.0.1', 'localhost'), timeout=1).version() == '0.0.0-fake'


def test_version_not_served_is_none():
    with serve({}) as srv:
        assert OpenAIClient(srv.url, timeout=1).version() is None


def test_ca_path_unreadable():
    with pytest.raises(OpenAIError) as exc:
        OpenAIClient('https://127.0.0.1:1', ca_path='/nonexistent/ca.pem')
    assert exc.value.kind == 'config'
    assert '/nonexistent/ca.pem' in exc.value.msg


def test_generate_prompt():
    one = bench.generate_prompt(100, 0)
    assert len(one.split()) == 100
    assert bench.generate_prompt(100, 0) == one
    assert bench.generate_prompt(100, 1) != one
    assert all(w in bench.WORDS for w in one.split())


def test_build_payload():
    assert bench.build_payload('m', 'p', 8) == dict(model='m', prompt='p', max_tokens=8, stream=True,
                                                    stream_options=dict(include_usage=True), ignore_eos=True)
    assert bench.build_payload('m', 'p', 8, ignore_eos=False, include_usage=False) == dict(
        model='m', prompt='p', max_tokens=8, stream=True)
