# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A tiny stdlib-only client for OpenAI-compatible servers (vLLM).

Nothing here needs anything beyond the Python standard library, so the
modules run on any managed host. Every failure is raised as
:class:`OpenAIError` with a message meant for humans.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

USER_AGENT = 'llmops.vllm-openai-probe/0.1'

CHECKS = ('health', 'models', 'completion', 'chat', 'stream')
DEFAULT_CHECKS = ['health', 'models', 'chat']
GENERATION_CHECKS = ('completion', 'chat', 'stream')

_SNIPPET = 200


def endpoint_argument_spec():
    """Options shared by the modules (see the openai_endpoint doc fragment)."""
    return dict(
        url=dict(type='str', required=True),
        api_key=dict(type='str', no_log=True),
        timeout=dict(type='float', default=30),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        wait_timeout=dict(type='float', default=0),
        wait_interval=dict(type='float', default=1),
    )


class OpenAIError(Exception):
    """A failed request, with a clear message.

    ``kind`` is one of ``connection``, ``timeout``, ``tls``, ``http``, ``auth``,
    ``invalid_response``, ``truncated``, ``model_not_found``, ``stream``,
    ``config``. ``retriable`` tells whether waiting may help (server still
    starting).
    """

    def __init__(self, msg, kind='error', status=None, url=None, retriable=False, server_message=None):
        super(OpenAIError, self).__init__(msg)
        self.msg = msg
        self.kind = kind
        self.status = status
        self.url = url
        self.retriable = retriable
        self.server_message = server_message

    def __str__(self):
        return self.msg


def normalize_base_url(url):
    """``http://h:8000``, ``http://h:8000/`` and ``http://h:8000/v1`` -> ``http://h:8000``."""
    if not url or not isinstance(url, str):
        raise OpenAIError('url must be a non-empty string such as http://127.0.0.1:8000', kind='config')
    url = url.strip()
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ('http', 'https') or not parsed.netloc:
        raise OpenAIError('url must start with http:// or https:// and name a host, got %r' % url, kind='config')
    url = url.rstrip('/')
    if url.endswith('/v1'):
        url = url[:-3]
    return url


def _snippet(data):
    if isinstance(data, bytes):
        data = data.decode('utf-8', errors='replace')
    data = ' '.join(data.split())
    if len(data) > _SNIPPET:
        data = data[:_SNIPPET] + '...'
    return data


def extract_error_message(body):
    """The server's error message from an error body.

    Understands ``{"error": {"message": ...}}`` (OpenAI, vLLM),
    ``{"error": "..."}``, ``{"message": ...}`` and ``{"detail": ...}``
    (FastAPI, including its validation error lists). Falls back to a
    snippet of the raw body.
    """
    if body is None:
        return ''
    if isinstance(body, bytes):
        text = body.decode('utf-8', errors='replace')
    else:
        text = body
    try:
        data = json.loads(text)
    except ValueError:
        return _snippet(text)
    return _message_from_json(data) or _snippet(text)


def _message_from_json(data):
    if not isinstance(data, dict):
        return None
    err = data.get('error')
    if isinstance(err, dict):
        msg = err.get('message') or err.get('msg') or err.get('detail')
        if msg:
            return str(msg)
    elif isinstance(err, str) and err:
        return err
    if data.get('message'):
        return str(data['message'])
    detail = data.get('detail')
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = '.'.join(str(x) for x in item.get('loc', []) or [])
                msg = item.get('msg') or item.get('message') or json.dumps(item)
                parts.append('%s: %s' % (loc, msg) if loc else str(msg))
            else:
                parts.append(str(item))
        return '; '.join(parts)
    if isinstance(detail, dict):
        return json.dumps(detail)
    return None


def _is_loopback(host):
    if not host:
        return False
    if host.lower() in ('localhost', 'localhost.localdomain', '::1'):
        return True
    return host.startswith('127.')


def _reason_text(reason):
    if isinstance(reason, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(reason, socket.gaierror):
        return 'cannot resolve host name (%s)' % reason
    if isinstance(reason, ConnectionResetError):
        return 'connection reset by peer'
    return str(reason) or reason.__class__.__name__


class Reply(object):
    """A complete, successful (2xx) HTTP reply."""

    def __init__(self, status, headers, body, latency_ms, url):
        self.status = status
        self.headers = headers
        self.body = body
        self.latency_ms = latency_ms
        self.url = url

    def json(self):
        ctype = self.headers.get('Content-Type', '') if self.headers else ''
        try:
            return json.loads(self.body.decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            raise OpenAIError(
                'Invalid response from %s: expected JSON but got %s body: %r'
                % (self.url, ctype or 'a non-JSON', _snippet(self.body) or '(empty)'),
                kind='invalid_response', status=self.status, url=self.url)


class StreamResult(object):
    """What a streamed completion produced, with client-side timings (seconds)."""

    def __init__(self):
        self.status = None
        self.text = ''
        self.ttft = None
        self.itl = []
        self.latency = None
        self.chunks = 0
        self.usage = None
        self.start_time = None
        self.finish_reason = None

    @property
    def output_tokens(self):
        if self.usage and isinstance(self.usage.get('completion_tokens'), int):
            return self.usage['completion_tokens']
        return self.chunks

    @property
    def usage_source(self):
        if self.usage and isinstance(self.usage.get('completion_tokens'), int):
            return 'server'
        return 'chunks'


class OpenAIClient(object):
    """Blocking client; safe to share between threads (no shared state per request)."""

    def __init__(self, url, api_key=None, timeout=30, validate_certs=True, ca_path=None):
        self.base_url = normalize_base_url(url)
        self.api_key = api_key
        self.timeout = float(timeout) if timeout else 30.0
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        handlers = []
        if self.base_url.startswith('https://'):
            handlers.append(urllib.request.HTTPSHandler(context=self._ssl_context()))
        if _is_loopback(urllib.parse.urlparse(self.base_url).hostname):
            # Never send requests for this host's own server through an
            # http_proxy from the environment.
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def _ssl_context(self):
        try:
            if not self.validate_certs:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                return ctx
            return ssl.create_default_context(cafile=self.ca_path)
        except (OSError, ssl.SSLError) as exc:
            raise OpenAIError('Cannot load CA bundle %r: %s' % (self.ca_path, exc), kind='config')

    def url(self, path):
        return self.base_url + path

    # -- transport -------------------------------------------------------
    def _headers(self, has_body, accept):
        headers = {'User-Agent': USER_AGENT, 'Accept': accept}
        if has_body:
            headers['Content-Type'] = 'application/json'
        if self.api_key:
            headers['Authorization'] = 'Bearer %s' % self.api_key
        return headers

    def open(self, method, path, payload=None, accept='application/json', timeout=None):
        """Send a request; return the open ``http.client.HTTPResponse`` (2xx).

        Raises :class:`OpenAIError` for connection problems, timeouts and
        non-2xx statuses (with the server's error message).
        """
        url = self.url(path)
        timeout = self.timeout if timeout is None else timeout
        data = None
        if payload is not None:
            data = json.dumps(payload).encode('utf-8')
        req = urllib.request.Request(url, data=data, method=method,
                                     headers=self._headers(data is not None, accept))
        where = '%s %s' % (method, url)
        try:
            return self._opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, where, url)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise self._timeout_error(where, url, timeout)
            if isinstance(reason, ssl.SSLError):
                raise OpenAIError(
                    'TLS error talking to %s: %s (set ca_path to the CA that signed the server '
                    'certificate, or validate_certs=false for a self-signed test server)' % (where, reason),
                    kind='tls', url=url)
            raise OpenAIError(
                'Cannot connect to %s: %s (is the server running and listening on that address?)'
                % (where, _reason_text(reason)),
                kind='connection', url=url, retriable=True)
        except (socket.timeout, TimeoutError):
            raise self._timeout_error(where, url, timeout)
        except http.client.RemoteDisconnected:
            raise OpenAIError(
                'Server closed the connection without replying to %s (still starting, or not an HTTP server?)' % where,
                kind='connection', url=url, retriable=True)
        except (http.client.HTTPException, OSError) as exc:
            raise OpenAIError('Request %s failed: %s: %s' % (where, exc.__class__.__name__, exc),
                              kind='connection', url=url, retriable=True)

    def _timeout_error(self, where, url, timeout):
        return OpenAIError('Timed out after %gs waiting for %s (timeout=%g)' % (timeout, where, timeout),
                           kind='timeout', url=url, retriable=True)

    def _http_error(self, exc, where, url):
        status = exc.code
        try:
            body = exc.read()
        except Exception:  # pylint: disable=broad-except
            body = b''
        finally:
            try:
                exc.close()
            except Exception:  # pylint: disable=broad-except
                pass
        server_msg = extract_error_message(body)
        reason = exc.reason or http.client.responses.get(status, '')
        head = 'HTTP %s %s from %s' % (status, reason, where)
        if status in (401, 403):
            msg = '%s: authentication failed - check api_key (the server expects "Authorization: Bearer <key>"' \
                  ', vLLM: --api-key / VLLM_API_KEY)' % head
            kind = 'auth'
        else:
            msg = head
            kind = 'http'
        if server_msg:
            msg = '%s. Server said: %s' % (msg, server_msg)
        retriable = status >= 500 or status == 429
        return OpenAIError(msg, kind=kind, status=status, url=url, retriable=retriable,
                           server_message=server_msg or None)

    def request(self, method, path, payload=None, timeout=None):
        """Complete request; returns a :class:`Reply` with the whole body read."""
        url = self.url(path)
        where = '%s %s' % (method, url)
        timeout = self.timeout if timeout is None else timeout
        start = time.perf_counter()
        resp = self.open(method, path, payload, timeout=timeout)
        try:
            body = resp.read()
        except http.client.IncompleteRead as exc:
            expected = len(exc.partial) + (exc.expected or 0)
            raise OpenAIError(
                'Truncated response from %s: received %d of %d bytes before the connection closed'
                % (where, len(exc.partial), expected),
                kind='truncated', status=resp.status, url=url, retriable=True)
        except (socket.timeout, TimeoutError):
            raise OpenAIError('Timed out after %gs reading the response body of %s' % (timeout, where),
                              kind='timeout', status=resp.status, url=url, retriable=True)
        except (http.client.HTTPException, OSError) as exc:
            raise OpenAIError('Reading the response of %s failed: %s: %s' % (where, exc.__class__.__name__, exc),
                              kind='truncated', status=resp.status, url=url, retriable=True)
        finally:
            resp.close()
        latency_ms = (time.perf_counter() - start) * 1000.0
        return Reply(resp.status, resp.headers, body, latency_ms, url)

    def request_json(self, method, path, payload=None, timeout=None):
        reply = self.request(method, path, payload, timeout=timeout)
        return reply, reply.json()

    # -- endpoints -------------------------------------------------------
    def health(self):
        """``GET /health`` (vLLM: 200 with an empty body when ready)."""
        return self.request('GET', '/health')

    def version(self):
        """``GET /version`` -> version string, or None when not served."""
        try:
            reply, data = self.request_json('GET', '/version')
        except OpenAIError:
            return None
        if isinstance(data, dict) and data.get('version') is not None:
            return str(data['version'])
        return None

    def models(self):
        """``GET /v1/models`` -> ``(reply, [model ids])``."""
        reply, data = self.request_json('GET', '/v1/models')
        if not isinstance(data, dict) or not isinstance(data.get('data'), list):
            raise OpenAIError('Unexpected reply from %s: no "data" list in %r' % (reply.url, _snippet(reply.body)),
                              kind='invalid_response', status=reply.status, url=reply.url)
        ids = [m.get('id') for m in data['data'] if isinstance(m, dict) and m.get('id')]
        return reply, ids

    def _choices(self, reply, data):
        if not isinstance(data, dict) or not isinstance(data.get('choices'), list) or not data['choices']:
            raise OpenAIError('Unexpected reply from %s: no "choices" in %r' % (reply.url, _snippet(reply.body)),
                              kind='invalid_response', status=reply.status, url=reply.url)
        return data['choices'][0] if isinstance(data['choices'][0], dict) else {}

    def completion(self, payload):
        """``POST /v1/completions`` -> dict(reply, text, usage, finish_reason, model)."""
        reply, data = self.request_json('POST', '/v1/completions', payload)
        choice = self._choices(reply, data)
        return dict(reply=reply, text=choice.get('text') or '', usage=data.get('usage'),
                    finish_reason=choice.get('finish_reason'), model=data.get('model'))

    def chat(self, payload):
        """``POST /v1/chat/completions`` -> dict(reply, text, reasoning, usage, finish_reason, model)."""
        reply, data = self.request_json('POST', '/v1/chat/completions', payload)
        choice = self._choices(reply, data)
        message = choice.get('message') or {}
        return dict(reply=reply, text=message.get('content') or '',
                    reasoning=message.get('reasoning_content') or message.get('reasoning'),
                    usage=data.get('usage'), finish_reason=choice.get('finish_reason'),
                    model=data.get('model'))

    def stream(self, path, payload, clock=time.perf_counter):
        """Stream an SSE completion (``data: {...}`` lines, ``data: [DONE]``).

        Timing follows ``vllm bench serve``: TTFT is the time from sending
        the request to the first event carrying ``choices``; every further
        such event adds one inter-token latency (the gap since the previous
        one); latency is the time of the last such event. Works for
        ``/v1/completions`` (``choices[0].text``) and
        ``/v1/chat/completions`` (``choices[0].delta.content``).
        """
        url = self.url(path)
        where = 'POST %s' % url
        result = StreamResult()
        start = clock()
        result.start_time = start
        resp = self.open('POST', path, payload, accept='text/event-stream')
        result.status = resp.status
        last = start
        parts = []
        other = []  # the start of anything that is not an SSE data line
        done = False
        try:
            while True:
                line = resp.readline()
                if not line:
                    break
                line = line.strip()
                if not line or line.startswith(b':') or not line.startswith(b'data:'):
                    if line and not line.startswith((b'event:', b'id:', b'retry:')) \
                            and sum(len(x) for x in other) < _SNIPPET:
                        other.append(line)
                    continue
                data = line[5:].strip()
                if data == b'[DONE]':
                    done = True
                    break
                try:
                    event = json.loads(data.decode('utf-8'))
                except (ValueError, UnicodeDecodeError):
                    raise OpenAIError('Invalid event in the stream from %s: %r' % (where, _snippet(data)),
                                      kind='stream', status=resp.status, url=url)
                if not isinstance(event, dict):
                    continue
                if event.get('error') or (event.get('object') == 'error'):
                    raise OpenAIError('The server reported an error in the stream from %s: %s'
                                      % (where, _message_from_json(event) or _snippet(data)),
                                      kind='stream', status=resp.status, url=url,
                                      server_message=_message_from_json(event))
                choices = event.get('choices')
                if choices:
                    now = clock()
                    if result.ttft is None:
                        result.ttft = now - start
                    else:
                        result.itl.append(now - last)
                    last = now
                    result.chunks += 1
                    choice = choices[0] if isinstance(choices[0], dict) else {}
                    text = choice.get('text')
                    if text is None:
                        delta = choice.get('delta') or {}
                        text = delta.get('content') or delta.get('reasoning_content') or delta.get('reasoning')
                    parts.append(text or '')
                    if choice.get('finish_reason'):
                        result.finish_reason = choice['finish_reason']
                if event.get('usage'):
                    result.usage = event['usage']
        except http.client.IncompleteRead:
            raise self._broken_stream(where, url, result, 'the chunked body was cut off')
        except (socket.timeout, TimeoutError):
            raise OpenAIError('Timed out after %gs waiting for the next event of the stream from %s (after %d chunks)'
                              % (self.timeout, where, result.chunks),
                              kind='timeout', status=resp.status, url=url, retriable=True)
        except (http.client.HTTPException, OSError) as exc:
            raise self._broken_stream(where, url, result, '%s: %s' % (exc.__class__.__name__, exc))
        finally:
            resp.close()
        if not done and result.chunks == 0 and other:
            raise OpenAIError('The reply from %s is not an event stream (Content-Type: %s): %r'
                              % (where, resp.headers.get('Content-Type'), _snippet(b' '.join(other))),
                              kind='invalid_response', status=resp.status, url=url)
        if not done:
            raise self._broken_stream(where, url, result, "the server closed the connection before 'data: [DONE]'")
        if result.ttft is None:
            raise OpenAIError('The stream from %s ended without any token chunk' % where,
                              kind='stream', status=resp.status, url=url)
        result.text = ''.join(parts)
        result.latency = last - start
        return result

    def _broken_stream(self, where, url, result, why):
        return OpenAIError('The stream from %s broke off after %d chunks: %s' % (where, result.chunks, why),
                           kind='stream', status=result.status, url=url, retriable=True)


# -- probe -------------------------------------------------------------------

def _ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 3)


def _usage(usage):
    if not isinstance(usage, dict):
        return None
    keep = ('prompt_tokens', 'completion_tokens', 'total_tokens')
    return dict((k, usage.get(k)) for k in keep if k in usage)


def _failure(exc):
    return dict(ok=False, status=exc.status, latency_ms=None, msg=exc.msg, kind=exc.kind)


def check_model_served(model, served, url):
    if model not in served:
        raise OpenAIError('Model %r is not served by %s; served models: %s'
                          % (model, url, ', '.join(served) if served else '(none)'),
                          kind='model_not_found', url=url)


def probe_once(client, checks, model=None, prompt='', messages=None, max_tokens=16, temperature=0.0):
    """Run the checks once, in the fixed order health, models, completion, chat, stream.

    Stops at the first failing check. Returns a dict with ``check_results``,
    ``models``, ``model``, ``error`` (an :class:`OpenAIError` or None).
    ``models`` is also run when a model must be resolved or validated
    for a generation check.
    """
    checks = [c for c in CHECKS if c in (checks or [])]
    out = dict(check_results={}, models=[], model=model, error=None)
    results = out['check_results']
    need_models = 'models' in checks or any(c in checks for c in GENERATION_CHECKS)
    try:
        if 'health' in checks:
            try:
                reply = client.health()
            except OpenAIError as exc:
                results['health'] = _failure(exc)
                raise
            results['health'] = dict(ok=True, status=reply.status, latency_ms=round(reply.latency_ms, 3))
        if need_models:
            try:
                reply, served = client.models()
                out['models'] = served
                if model:
                    check_model_served(model, served, client.url('/v1/models'))
                elif any(c in checks for c in GENERATION_CHECKS):
                    if not served:
                        raise OpenAIError('%s serves no models' % client.url('/v1/models'),
                                          kind='model_not_found', url=client.url('/v1/models'))
                    out['model'] = served[0]
            except OpenAIError as exc:
                results['models'] = _failure(exc)
                results['models']['models'] = out['models']
                raise
            results['models'] = dict(ok=True, status=reply.status, latency_ms=round(reply.latency_ms, 3),
                                     models=served)
        model = out['model']
        base = dict(model=model, max_tokens=max_tokens, temperature=temperature)
        if 'completion' in checks:
            payload = dict(base, prompt=prompt)
            try:
                got = client.completion(payload)
            except OpenAIError as exc:
                results['completion'] = _failure(exc)
                raise
            results['completion'] = dict(ok=True, status=got['reply'].status,
                                         latency_ms=round(got['reply'].latency_ms, 3), text=got['text'],
                                         usage=_usage(got['usage']), finish_reason=got['finish_reason'])
        if 'chat' in checks:
            payload = dict(base, messages=messages or [dict(role='user', content=prompt)])
            try:
                got = client.chat(payload)
            except OpenAIError as exc:
                results['chat'] = _failure(exc)
                raise
            results['chat'] = dict(ok=True, status=got['reply'].status,
                                   latency_ms=round(got['reply'].latency_ms, 3), text=got['text'],
                                   reasoning=got['reasoning'], usage=_usage(got['usage']),
                                   finish_reason=got['finish_reason'])
        if 'stream' in checks:
            payload = dict(base, prompt=prompt, stream=True, stream_options=dict(include_usage=True))
            try:
                got = client.stream('/v1/completions', payload)
            except OpenAIError as exc:
                results['stream'] = _failure(exc)
                raise
            results['stream'] = stream_summary(got)
    except OpenAIError as exc:
        out['error'] = exc
    return out


def stream_summary(got):
    """Result dict of a stream check from a :class:`StreamResult`."""
    tokens = got.output_tokens
    tpot = None
    if tokens > 1 and got.latency is not None:
        tpot = (got.latency - got.ttft) / (tokens - 1)
    return dict(
        ok=True, status=got.status, latency_ms=_ms(got.latency), text=got.text,
        usage=_usage(got.usage), usage_source=got.usage_source, finish_reason=got.finish_reason,
        ttft_ms=_ms(got.ttft), output_tokens=tokens, chunks=got.chunks,
        tokens_per_s=round(tokens / got.latency, 3) if got.latency else None,
        tpot_ms=_ms(tpot),
        decode_tokens_per_s=round(1.0 / tpot, 3) if tpot else None,
    )


def retry_until(func, wait_timeout, wait_interval, is_done, clock=time.monotonic, sleep=time.sleep):
    """Call ``func()`` until ``is_done(result)`` or ``wait_timeout`` seconds passed.

    ``is_done`` returns True to stop (success or a failure waiting will not
    fix). Returns ``(result, attempts, elapsed_s)``.
    """
    start = clock()
    deadline = start + max(0.0, wait_timeout or 0.0)
    interval = max(0.01, wait_interval or 0.0)
    attempts = 0
    while True:
        attempts += 1
        result = func()
        if is_done(result):
            break
        remaining = deadline - clock()
        if remaining <= 0:
            break
        sleep(min(interval, remaining))
    return result, attempts, clock() - start


def probe(client, checks, model=None, prompt='', messages=None, max_tokens=16, temperature=0.0,
          wait_timeout=0, wait_interval=1, sleep=time.sleep):
    """Probe with retries while the server is not ready (connection refused, 5xx ...)."""

    def once():
        return probe_once(client, checks, model=model, prompt=prompt, messages=messages,
                          max_tokens=max_tokens, temperature=temperature)

    def done(res):
        return res['error'] is None or not res['error'].retriable

    out, attempts, elapsed = retry_until(once, wait_timeout, wait_interval, done, sleep=sleep)
    out['wait_attempts'] = attempts
    out['elapsed_s'] = round(elapsed, 3)
    out['version'] = client.version() if out['error'] is None or out['error'].kind not in ('connection', 'timeout') else None
    return out
