"""Build a STAND-IN `vllm` wheel (llmops.vllm tests; no GPU on CI machines, and the real CUDA
wheels with torch weigh gigabytes). It installs like the real one (`uv pip install vllm==X`,
importlib.metadata version, a `vllm` console script) and answers `vllm --version`; `vllm serve`
refuses to run.

Usage: make_standin_wheel.py OUT_DIR VERSION [VERSION...]
"""
import base64
import hashlib
import os
import sys
import zipfile

INIT = '''"""STAND-IN vllm {version} (llmops.vllm tests): not the real vLLM."""
__version__ = "{version}"
'''
CLI = '''"""STAND-IN `vllm` command (llmops.vllm tests)."""
import sys

from vllm import __version__


def main():
    args = sys.argv[1:]
    if args[:1] in (["--version"], ["-v"]):
        print(__version__)
        return 0
    sys.stderr.write("stand-in vllm %s (llmops.vllm tests) cannot %s\\n" % (__version__, " ".join(args) or "run"))
    return 2
'''


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    return '%s,sha256=%s,%d' % (name, digest, len(data))


def build(out, version):
    dist = 'vllm-%s.dist-info' % version
    files = {
        'vllm/__init__.py': INIT.format(version=version),
        'vllm/_standin_cli.py': CLI,
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
