"""Build a STAND-IN `vllm` wheel (llmops.vllm tests; no GPU on CI machines, and the real CUDA
wheels with torch weigh gigabytes). It installs like the real one (`uv pip install vllm==X`,
importlib.metadata version, a `vllm` console script) and answers `vllm --version`.
`vllm serve --model M [--served-model-name N] [--host H] [--port P] ...` starts a STAND-IN of the
OpenAI-compatible server (standard library only): /health, /version, /v1/models and
/v1/chat/completions + /v1/completions answer in vLLM's format, but no model runs: every reply is a
fixed text naming the stand-in and the CUDA_VISIBLE_DEVICES it was started with. Like vLLM it
refuses a --model path that is not a model directory (no config.json), and VLLM_API_KEY is enforced.
It also carries a STAND-IN `torch` package that has only `torch.__version__` and `torch.version.cuda`
(the CUDA the real wheels' torch is built for; default 13.0), which is what llmops.vllm.vllm_gpu reads.

Usage: make_standin_wheel.py OUT_DIR VERSION[=TORCH_CUDA] [VERSION[=TORCH_CUDA]...]
"""
import base64
import hashlib
import os
import sys
import zipfile

INIT = '''"""STAND-IN vllm {version} (llmops.vllm tests): not the real vLLM."""
__version__ = "{version}"
'''
CLI = '''"""STAND-IN `vllm` command (llmops.vllm tests): --version, and a stand-in `serve`."""
import sys

from vllm import __version__


def main():
    args = sys.argv[1:]
    if args[:1] in (["--version"], ["-v"]):
        print(__version__)
        return 0
    if args[:1] == ["serve"]:
        from vllm._standin_server import serve
        return serve(args[1:])
    sys.stderr.write("stand-in vllm %s (llmops.vllm tests) cannot %s\\n" % (__version__, " ".join(args) or "run"))
    return 2
'''
SERVER = '''"""STAND-IN OpenAI-compatible server for `vllm serve` (llmops.vllm tests): no model runs."""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vllm import __version__


def _options(argv):
    opts = {"--host": "0.0.0.0", "--port": "8000", "--model": None, "--served-model-name": None}
    for i, arg in enumerate(argv):
        key, eq, value = arg.partition("=")
        if key in opts:
            opts[key] = value if eq else (argv[i + 1] if i + 1 < len(argv) else None)
    return opts


def serve(argv):
    opts = _options(argv)
    model = opts["--model"]
    if not model:
        sys.stderr.write("stand-in vllm serve: --model is required\\n")
        return 2
    if model.startswith("/") and not os.path.isfile(os.path.join(model, "config.json")):
        sys.stderr.write("stand-in vllm serve: %s is not a model directory (no config.json)\\n" % model)
        return 1
    name = opts["--served-model-name"] or model
    reply = "STAND-IN vllm %s (CUDA_VISIBLE_DEVICES=%s): no model ran, this text is fixed" % (
        __version__, os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
    api_key = os.environ.get("VLLM_API_KEY", "")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status, body):
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self):
            if api_key and self.headers.get("Authorization", "") != "Bearer " + api_key:
                self._send(401, {"error": "Unauthorized"})
                return False
            return True

        def do_GET(self):
            if self.path == "/health":
                self._send(200, None)
            elif self.path == "/version":
                self._send(200, {"version": __version__})
            elif self.path == "/v1/models":
                if self._authorized():
                    self._send(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "vllm", "root": model}]})
            else:
                self._send(404, {"error": {"message": "stand-in: no route %s" % self.path}})

        def do_POST(self):
            if self.path not in ("/v1/chat/completions", "/v1/completions"):
                self._send(404, {"error": {"message": "stand-in: no route %s" % self.path}})
                return
            if not self._authorized():
                return
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if req.get("model", name) != name:
                self._send(404, {"error": {"message": "The model `%s` does not exist." % req.get("model")}})
                return
            words = reply.split()[:max(1, int(req.get("max_tokens") or 16))]
            text = " ".join(words)
            chat = self.path == "/v1/chat/completions"
            choice = {"index": 0, "finish_reason": "length" if len(words) < len(reply.split()) else "stop"}
            choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            self._send(200, {"id": "standin-%d" % time.time_ns(), "object": "chat.completion" if chat else "text_completion",
                             "created": int(time.time()), "model": name, "choices": [choice],
                             "usage": {"prompt_tokens": 1, "completion_tokens": len(words), "total_tokens": 1 + len(words)}})

        def log_message(self, fmt, *args):
            sys.stderr.write("stand-in vllm: %s\\n" % (fmt % args))

    server = ThreadingHTTPServer((opts["--host"], int(opts["--port"])), Handler)
    sys.stderr.write("stand-in vllm %s serving %s on %s:%s (no model runs)\\n" % (__version__, name, opts["--host"], opts["--port"]))
    server.serve_forever()
    return 0
'''


TORCH_INIT = '''"""STAND-IN torch (llmops.vllm tests, inside the stand-in vllm wheel): not PyTorch."""
from torch import version  # noqa: F401
__version__ = version.__version__
'''
TORCH_VERSION = '''"""STAND-IN torch.version (llmops.vllm tests)."""
__version__ = "0.0.0+standin.cu{tag}"
cuda = "{cuda}"
'''


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    return '%s,sha256=%s,%d' % (name, digest, len(data))


def build(out, spec):
    version, dummy, torch_cuda = spec.partition('=')
    torch_cuda = torch_cuda or '13.0'
    dist = 'vllm-%s.dist-info' % version
    files = {
        'torch/__init__.py': TORCH_INIT,
        'torch/version.py': TORCH_VERSION.format(cuda=torch_cuda, tag=torch_cuda.replace('.', '')),
        'vllm/__init__.py': INIT.format(version=version),
        'vllm/_standin_cli.py': CLI,
        'vllm/_standin_server.py': SERVER,
        dist + '/METADATA': 'Metadata-Version: 2.1\nName: vllm\nVersion: %s\n'
                            'Summary: STAND-IN for vLLM (llmops.vllm tests; not the real package)\n' % version,
        dist + '/WHEEL': 'Wheel-Version: 1.0\nGenerator: llmops.vllm make_standin_wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
        dist + '/entry_points.txt': '[console_scripts]\nvllm = vllm._standin_cli:main\n',
    }
    path = os.path.join(out, 'vllm-%s-py3-none-any.whl' % version)
    records = []
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as whl:
        for name, text in files.items():
            data = text.encode()
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            whl.writestr(info, data)
            records.append(record_line(name, data))
        records.append(dist + '/RECORD,,')
        info = zipfile.ZipInfo(dist + '/RECORD', date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        whl.writestr(info, '\n'.join(records) + '\n')
    return path


if __name__ == '__main__':
    os.makedirs(sys.argv[1], exist_ok=True)
    for v in sys.argv[2:]:
        print(build(sys.argv[1], v))
