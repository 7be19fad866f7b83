# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small local HTTP servers for the openai_probe / openai_benchmark tests.

Everything listens on 127.0.0.1 on an ephemeral port, in a thread.

* :func:`serve` runs a server whose routes are plain functions, so a test
  can make it misbehave in exactly one way (sleep, 500, 401, non-JSON,
  truncated body, broken stream ...).
* :func:`fake_openai_routes` is a FAKE OpenAI-shaped server (vLLM's routes and
  error shapes, canned tokens, no model). It only exercises the client logic;
  the real positive-path test against a real vLLM runs in Molecule verify.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # The tests' clients give up on slow or broken replies on purpose; a
        # BrokenPipe on the server side is expected there, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super(_Server, self).handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    routes = {}

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _dispatch(self, method):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        try:
            body = json.loads(raw.decode('utf-8')) if raw else None
        except ValueError:
            body = None
        path = self.path.split('?', 1)[0]
        self.server.requests.append(dict(method=method, path=path, body=body, headers=dict(self.headers)))
        route = self.routes.get((method, path)) or self.routes.get((method, '*')) or self.routes.get('*')
        if route is None:
            send_json(self, 404, {'detail': 'Not Found'})
            return
        route(self, body)

    def do_GET(self):  # noqa: N802
        self._dispatch('GET')

    def do_POST(self):  # noqa: N802
        self._dispatch('POST')


def send_raw(handler, status, body=b'', content_type='application/json', length=None, close=False):
    if isinstance(body, str):
        body = body.encode('utf-8')
    handler.send_response(status)
    handler.send_header('Content-Type', content_type)
    handler.send_header('Content-Length', str(len(body) if length is None else length))
    if close:
        handler.send_header('Connection', 'close')
        handler.close_connection = True
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()


def send_json(handler, status, obj):
    send_raw(handler, status, json.dumps(obj))


def send_sse(handler, events, done=True, delay=0.0, chunked=True, break_chunk=False):
    """Stream ``events`` (dicts) as ``data: {...}`` lines, then ``data: [DONE]``.

    ``done=False`` closes the connection without ``[DONE]``; ``break_chunk``
    closes in the middle of an HTTP chunk.
    """
    handler.send_response(200)
    handler.send_header('Content-Type', 'text/event-stream')
    if chunked:
        handler.send_header('Transfer-Encoding', 'chunked')
    else:
        handler.send_header('Connection', 'close')
    handler.end_headers()
    handler.close_connection = not (chunked and done)

    def write(data):
        if chunked:
            handler.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
        else:
            handler.wfile.write(data)
        handler.wfile.flush()

    for event in events:
        if delay:
            time.sleep(delay)
        write(b'data: ' + json.dumps(event).encode('utf-8') + b'\n\n')
    if break_chunk:
        handler.wfile.write(b'100\r\ndata: {"choi')
        handler.wfile.flush()
        handler.close_connection = True
        return
    if done:
        write(b'data: [DONE]\n\n')
    if chunked and done:
        handler.wfile.write(b'0\r\n\r\n')
        handler.wfile.flush()


@contextlib.contextmanager
def serve(routes, port=0, tls=None):
    """Run a server with ``routes`` ({(method, path): fn(handler, json_body)}); yield it.

    The yielded server has ``url``, ``requests`` (what it received) and
    ``release`` (an Event slow handlers wait on; set on exit so nothing hangs).
    ``tls`` ({'cert': ..., 'key': ...}, e.g. from make_tls_files) serves https.
    """
    handler = type('Handler', (_Handler,), dict(routes=routes))
    server = _Server(('127.0.0.1', port), handler)
    server.requests = []
    server.release = threading.Event()
    server.url = 'http://127.0.0.1:%d' % server.server_address[1]
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls['cert'], tls['key'])
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.url = 'https://127.0.0.1:%d' % server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.05))
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port():
    """A port that nothing listens on (bound, then closed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def fake_openai_routes(models=('fake-model',), api_key=None, tokens=('Hello', ',', ' world', '!'),
                       version='0.0.0-fake', usage=True, reject_fields=(), token_delay=0.0, counter=None):
    """Routes of a FAKE OpenAI-shaped server (vLLM shapes, canned tokens).

    ``ignore_eos`` makes it emit exactly ``max_tokens`` tokens (cycling
    ``tokens``), otherwise ``min(len(tokens), max_tokens)``. ``reject_fields``
    answers 400 "Unrecognized request argument supplied: <field>" like
    api.openai.com does for vLLM extensions. ``usage=False`` leaves the usage
    chunk out of streams. ``counter`` (a dict) counts generation requests.
    """
    models = list(models)
    counter = counter if counter is not None else {}

    def authorized(handler):
        if api_key and handler.headers.get('Authorization') != 'Bearer %s' % api_key:
            send_json(handler, 401, {'error': 'Unauthorized'})  # vLLM's --api-key middleware
            return False
        return True

    def health(handler, body):
        send_raw(handler, 200, b'')

    def get_version(handler, body):
        send_json(handler, 200, {'version': version})

    def list_models(handler, body):
        if authorized(handler):
            send_json(handler, 200, {'object': 'list', 'data': [
                {'id': m, 'object': 'model', 'created': 0, 'owned_by': 'vllm', 'root': m} for m in models]})

    def generate(handler, body, chat):
        if not authorized(handler):
            return
        counter['generate'] = counter.get('generate', 0) + 1
        body = body or {}
        for field in reject_fields:
            if field in body:
                send_json(handler, 400, {'error': {
                    'message': 'Unrecognized request argument supplied: %s' % field,
                    'type': 'invalid_request_error', 'param': None, 'code': None}})
                return
        if body.get('model') not in models:
            send_json(handler, 404, {'error': {
                'message': 'The model `%s` does not exist.' % body.get('model'),
                'type': 'NotFoundError', 'param': None, 'code': 404}})
            return
        max_tokens = int(body.get('max_tokens') or 16)
        count = max_tokens if body.get('ignore_eos') else min(len(tokens), max_tokens)
        out = [tokens[i % len(tokens)] for i in range(count)]
        prompt = body.get('prompt') or ' '.join(m.get('content', '') for m in body.get('messages') or [])
        use = {'prompt_tokens': len(str(prompt).split()), 'completion_tokens': count,
               'total_tokens': len(str(prompt).split()) + count}
        kind = 'chat.completion' if chat else 'text_completion'
        if body.get('stream'):
            events = []
            if chat:
                events.append({'object': 'chat.completion.chunk', 'model': body['model'], 'choices': [
                    {'index': 0, 'delta': {'role': 'assistant', 'content': ''}, 'finish_reason': None}]})
            for i, tok in enumerate(out):
                finish = 'length' if i == count - 1 else None
                if chat:
                    choice = {'index': 0, 'delta': {'content': tok}, 'finish_reason': finish}
                else:
                    choice = {'index': 0, 'text': tok, 'finish_reason': finish}
                events.append({'object': kind + '.chunk' if chat else kind, 'model': body['model'],
                               'choices': [choice]})
            if usage and (body.get('stream_options') or {}).get('include_usage'):
                events.append({'object': kind, 'model': body['model'], 'choices': [], 'usage': use})
            send_sse(handler, events, delay=token_delay)
            return
        text = ''.join(out)
        if chat:
            choice = {'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': 'length'}
        else:
            choice = {'index': 0, 'text': text, 'finish_reason': 'length'}
        send_json(handler, 200, {'id': 'cmpl-fake', 'object': kind, 'model': body['model'],
                                 'choices': [choice], 'usage': use})

    return {
        ('GET', '/health'): health,
        ('GET', '/version'): get_version,
        ('GET', '/v1/models'): list_models,
        ('POST', '/v1/completions'): lambda h, b: generate(h, b, False),
        ('POST', '/v1/chat/completions'): lambda h, b: generate(h, b, True),
    }
