# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_download against a STAND-IN Hugging Face Hub (tests/fixtures/standin_hub.py).

The real Hub cannot be reached from CI machines. The stand-in serves a small local model directory
with the endpoints huggingface_hub's snapshot_download uses (repo info, tree listing, resolve with
X-Repo-Commit/ETag, LFS files redirected to a "CDN" host), optionally behind a bearer token and a byte
rate limit. The download itself is the real huggingface_hub (the version vLLM's wheelhouse ships),
and the final check is the offline look-up vLLM makes with HF_HUB_OFFLINE=1.

ModelScope cannot be stood in for the same way here: its tests check the plumbing (environment,
arguments, idempotence, missing package) against a fake ``modelscope`` package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import types

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils import _model_download as md
from ansible_collections.llmops.vllm.plugins.modules import model_download
from ansible_collections.llmops.vllm.tests.fixtures.standin_hub import StandinHub, make_tls_files

REPO = 'llmops-test/tiny-model'
TOKEN = 'hf_standin_SECRET_0123456789'


@pytest.fixture(autouse=True)
def clean_environ():
    """The module sets HF_HOME, HF_ENDPOINT, ... in its (here: our) process: restore them."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def hf():
    return pytest.importorskip('huggingface_hub')


@pytest.fixture
def model_dir(tmp_path):
    """A small model repo: JSON configs, a 1.5 MiB 'weights' file (LFS on the Hub) and a nested file."""
    root = tmp_path / 'src-model'
    (root / 'sub').mkdir(parents=True)
    (root / 'config.json').write_text(json.dumps({'model_type': 'qwen2', 'hidden_size': 64}))
    (root / 'tokenizer_config.json').write_text(json.dumps({'model_max_length': 128}))
    (root / 'model.safetensors').write_bytes(os.urandom(1536 * 1024))
    (root / 'sub' / 'notes.txt').write_text('nested file\n')
    return root


def files_of(root):
    return sorted(os.path.relpath(os.path.join(b, n), root).replace(os.sep, '/')
                  for b, _d, names in os.walk(root) for n in names)


def total_size(root):
    return sum(os.path.getsize(os.path.join(root, *p.split('/'))) for p in files_of(root))


def args(hub, tmp_path, **extra):
    base = dict(repo_id=REPO, cache_dir=str(tmp_path / 'hf'), endpoint=hub.url,
                progress_file=str(tmp_path / 'progress.json'))
    if hub.token:
        base['token'] = hub.token
    base.update(extra)
    return base


def read_progress(tmp_path):
    with open(str(tmp_path / 'progress.json')) as handle:
        return json.load(handle)


def downloads(hub):
    """File downloads the hub served (GET of resolve/CDN URLs)."""
    return [r for r in hub.requests if r['method'] == 'GET' and (r['path'].startswith('/cdn/') or '/resolve/' in r['path'])]


# ---- Hugging Face through the stand-in Hub --------------------------------------------------------
def test_download_progress_idempotence_and_offline_lookup(hf, run_module, model_dir, tmp_path):
    with StandinHub({REPO: str(model_dir)}, token=TOKEN) as hub:
        first = run_module(model_download, args(hub, tmp_path))
        assert not first.get('failed'), first
        commit = hub.commit(REPO)
        progress = read_progress(tmp_path)
        served = len(downloads(hub))
        second = run_module(model_download, args(hub, tmp_path))
        second_downloads = len(downloads(hub)) - served

    hub_dir = tmp_path / 'hf' / 'hub'
    snapshot = hub_dir / 'models--llmops-test--tiny-model' / 'snapshots' / commit
    assert first['changed'] is True
    assert first['commit'] == commit
    assert first['path'] == str(snapshot)
    assert first['files'] == files_of(model_dir)
    assert first['bytes'] == total_size(model_dir)
    assert first['downloaded_files'] == files_of(model_dir)
    assert first['downloaded_bytes'] == first['bytes']
    assert first['library_version'] == hf.__version__
    for rel in files_of(model_dir):
        assert (snapshot / rel).read_bytes() == (model_dir / rel).read_bytes()
    assert (hub_dir / 'models--llmops-test--tiny-model' / 'refs' / 'main').read_text() == commit

    # The progress file ends complete and consistent.
    assert progress['state'] == 'done'
    assert progress['files_done'] == progress['files_total'] == 4
    assert progress['bytes_done'] == progress['bytes_total'] == first['bytes']
    assert progress['eta_s'] == 0 and progress['elapsed_s'] >= 0
    assert progress['commit'] == commit and progress['repo_id'] == REPO

    # Second run: resolved and listed, everything present: no change, nothing downloaded.
    assert second['changed'] is False, second
    assert second['downloaded_files'] == [] and second['downloaded_bytes'] == 0
    assert second['path'] == first['path']
    assert second_downloads == 0

    # What vLLM does with HF_HOME set and HF_HUB_OFFLINE=1: finds the snapshot without any network.
    assert hf.snapshot_download(REPO, cache_dir=str(hub_dir), local_files_only=True) == str(snapshot)
    env = dict(os.environ, HF_HOME=str(tmp_path / 'hf'), HF_HUB_OFFLINE='1', HF_ENDPOINT='http://127.0.0.1:9')
    env.pop('HF_HUB_CACHE', None)
    out = subprocess.run([sys.executable, '-c', 'from huggingface_hub import snapshot_download; '
                          'print(snapshot_download(%r))' % REPO],
                         env=env, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == str(snapshot)


def test_a_moved_branch_gives_the_new_commit_and_keeps_the_old_snapshot(hf, run_module, model_dir, tmp_path):
    """What vllm_service pins: the commit main resolves to now. The earlier snapshot stays in the cache, so a
    server pinned to it (a rollback) still finds it offline."""
    moved = tmp_path / 'moved-model'
    shutil.copytree(str(model_dir), str(moved))
    (moved / 'generation_config.json').write_text(json.dumps({'temperature': 0.5}))
    with StandinHub({REPO: str(model_dir)}, token=TOKEN) as hub:
        first = run_module(model_download, args(hub, tmp_path))
        old = hub.commit(REPO)
        new = hub.move(REPO, str(moved))
        before = len(downloads(hub))
        second = run_module(model_download, args(hub, tmp_path))
        served = len(downloads(hub))
        fetched = [r['path'] for r in downloads(hub)[before:]]
        at_old = run_module(model_download, args(hub, tmp_path, revision=old))  # still on the hub, and cached
        assert len(downloads(hub)) == served
    assert new != old and first['commit'] == old
    assert second['changed'] is True and second['commit'] == new
    assert len(fetched) == 1 and fetched[0].endswith('/generation_config.json'), fetched  # the rest: same blobs
    assert at_old['changed'] is False and at_old['commit'] == old
    repo_dir = tmp_path / 'hf' / 'hub' / 'models--llmops-test--tiny-model'
    assert (repo_dir / 'refs' / 'main').read_text() == new
    hub_dir = str(tmp_path / 'hf' / 'hub')
    for commit, source in ((old, model_dir), (new, moved)):
        path = hf.snapshot_download(REPO, revision=commit, cache_dir=hub_dir, local_files_only=True)
        assert path == str(repo_dir / 'snapshots' / commit) and files_of(path) == files_of(source)


def test_token_is_sent_to_the_hub_only_and_never_returned(hf, run_module, model_dir, tmp_path):
    with StandinHub({REPO: str(model_dir)}, token=TOKEN) as hub:
        result = run_module(model_download, args(hub, tmp_path))
    assert not result.get('failed'), result
    hub_requests = [r for r in hub.requests if not r['path'].startswith('/cdn/')]
    cdn_requests = [r for r in hub.requests if r['path'].startswith('/cdn/')]
    assert hub_requests and cdn_requests  # the weights went through the "CDN" redirect
    assert all(r['authorization'] == 'Bearer ' + TOKEN for r in hub_requests)
    assert all(r['authorization'] is None for r in cdn_requests)  # like the real CDN: no token there
    assert TOKEN not in json.dumps(result)
    assert TOKEN not in (tmp_path / 'progress.json').read_text()


@pytest.mark.parametrize('token, expected', [
    ('hf_wrong_token', 'rejected the token'),
    (None, 'no token was given'),
])
def test_refused_token_fails_clearly(hf, run_module, model_dir, tmp_path, token, expected):
    with StandinHub({REPO: str(model_dir)}, token=TOKEN) as hub:
        params = args(hub, tmp_path)
        params.pop('token')
        if token:
            params['token'] = token
        result = run_module(model_download, params)
    assert result['failed'] is True
    assert expected in result['msg'], result['msg']
    assert REPO in result['msg'] or hub.url in result['msg']
    assert TOKEN not in json.dumps(result) and 'hf_wrong_token' not in json.dumps(result)
    assert not downloads(hub)
    progress = read_progress(tmp_path)
    assert progress['state'] == 'failed' and expected in progress['error']
    assert not (tmp_path / 'hf' / 'hub' / 'models--llmops-test--tiny-model' / 'snapshots').exists()


def test_check_mode_downloads_nothing(hf, run_module, model_dir, tmp_path):
    with StandinHub({REPO: str(model_dir)}, token=TOKEN) as hub:
        result = run_module(model_download, args(hub, tmp_path), check_mode=True)
        assert not downloads(hub)
        run_module(model_download, args(hub, tmp_path))
        after = run_module(model_download, args(hub, tmp_path), check_mode=True)
    assert result['changed'] is True, result
    assert result['downloaded_files'] == files_of(model_dir)
    assert result['downloaded_bytes'] == total_size(model_dir)
    assert result['commit'] == hub.commit(REPO)
    assert 'would download 4 of 4 files' in result['msg']
    assert after['changed'] is False and after['downloaded_files'] == []


def test_check_mode_writes_nothing(hf, run_module, model_dir, tmp_path):
    with StandinHub({REPO: str(model_dir)}) as hub:
        run_module(model_download, args(hub, tmp_path), check_mode=True)
    assert not (tmp_path / 'hf').exists()
    assert not (tmp_path / 'progress.json').exists()


def test_progress_is_observable_while_downloading(hf, run_module, model_dir, tmp_path):
    seen = []
    result = {}
    # ~1.6 MB at 800 kB/s: about two seconds of download to watch.
    with StandinHub({REPO: str(model_dir)}, rate=800 * 1024) as hub:
        job = threading.Thread(target=lambda: result.update(run_module(model_download, args(hub, tmp_path))))
        job.start()
        while job.is_alive():
            try:
                seen.append(read_progress(tmp_path))
            except (IOError, OSError, ValueError):
                pass
            time.sleep(0.1)
        job.join()
    assert not result.get('failed'), result
    running = [s for s in seen if s['state'] == 'downloading']
    assert running, seen
    partial = [s for s in running if 0 < s['bytes_done'] < s['bytes_total']]
    assert partial, running
    assert any(s['eta_s'] is not None and s['eta_s'] > 0 for s in partial)
    assert any(s['bytes_per_s'] for s in partial)
    assert all(s['files_total'] == 4 and s['bytes_total'] == result['bytes'] for s in running)
    done = [s['bytes_done'] for s in running]
    assert done == sorted(done)  # never goes backwards
    assert read_progress(tmp_path)['state'] == 'done'


def test_missing_file_and_missing_ref_are_repaired(hf, run_module, model_dir, tmp_path):
    with StandinHub({REPO: str(model_dir)}) as hub:
        first = run_module(model_download, args(hub, tmp_path))
        snapshot = first['path']
        os.unlink(os.path.join(snapshot, 'sub', 'notes.txt'))
        repaired = run_module(model_download, args(hub, tmp_path))
        ref = os.path.join(os.path.dirname(os.path.dirname(snapshot)), 'refs', 'main')
        os.unlink(ref)
        ref_repaired = run_module(model_download, args(hub, tmp_path))
        again = run_module(model_download, args(hub, tmp_path))
    assert repaired['changed'] is True and repaired['downloaded_files'] == ['sub/notes.txt']
    assert os.path.isfile(os.path.join(snapshot, 'sub', 'notes.txt'))
    assert ref_repaired['changed'] is True and ref_repaired['downloaded_files'] == []
    assert open(ref).read() == hub.commit(REPO)
    assert again['changed'] is False


def test_patterns_and_commit_revision(hf, run_module, model_dir, tmp_path):
    with StandinHub({REPO: str(model_dir)}, page_size=2) as hub:  # page_size: the tree listing is paginated
        commit = hub.commit(REPO)
        result = run_module(model_download, args(hub, tmp_path, revision=commit, allow_patterns=['*.json', 'sub/*'],
                                                 ignore_patterns=['tokenizer*']))
        none = run_module(model_download, args(hub, tmp_path, allow_patterns=['*.gguf']))
    assert result['changed'] is True and result['commit'] == commit
    assert result['files'] == ['config.json', 'sub/notes.txt']
    assert sorted(os.listdir(result['path'])) == ['config.json', 'sub']
    assert none['failed'] is True and 'no file' in none['msg']


def test_unknown_revision_and_repo(hf, run_module, model_dir, tmp_path):
    with StandinHub({REPO: str(model_dir)}) as hub:
        bad_rev = run_module(model_download, args(hub, tmp_path, revision='v9'))
        bad_repo = run_module(model_download, args(hub, tmp_path, repo_id='llmops-test/nope'))
        bad_id = run_module(model_download, args(hub, tmp_path, repo_id='no-slash'))
    assert bad_rev['failed'] is True and "revision 'v9'" in bad_rev['msg']
    assert bad_repo['failed'] is True and 'repository not found' in bad_repo['msg']
    assert bad_id['failed'] is True and 'org' in bad_id['msg']


def test_unreachable_hub_uses_a_complete_cache_or_fails_clearly(hf, run_module, model_dir, tmp_path):
    with StandinHub({REPO: str(model_dir)}) as hub:
        first = run_module(model_download, args(hub, tmp_path))
    gone = 'http://127.0.0.1:%d' % hub.httpd.server_address[1]  # closed now
    offline = run_module(model_download, args(hub, tmp_path, endpoint=gone))
    assert offline["changed"] is False and offline.get("offline") is True, offline
    assert offline['path'] == first['path']
    assert any('cannot reach' in w for w in offline['_warnings'])

    empty = run_module(model_download, args(hub, tmp_path, endpoint=gone, cache_dir=str(tmp_path / 'empty')))
    assert empty['failed'] is True
    assert 'cannot reach %s' % gone in empty['msg'] and 'no complete snapshot' in empty['msg']
    guess = run_module(model_download, args(hub, tmp_path, endpoint=gone, cache_dir=str(tmp_path / 'empty')),
                       check_mode=True)
    assert guess['changed'] is True and 'cannot tell' in guess['msg']


def test_private_ca_hub_needs_the_ca_bundle(hf, run_module, model_dir, tmp_path):
    """A Hub behind a certificate of a private CA (a TLS-intercepting proxy): refused with the library's
    own roots, with a message that points at ca_bundle; downloaded with ca_bundle."""
    tls = make_tls_files(str(tmp_path))
    for name in ('SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
        os.environ.pop(name, None)
    with StandinHub({REPO: str(model_dir)}, tls_cert=tls['cert'], tls_key=tls['key']) as hub:
        assert hub.url.startswith('https://127.0.0.1:')
        # A module runs in a fresh process, whose HTTP client is made after the module set SSL_CERT_FILE;
        # here the library's client outlives a run, so start each run with a new one.
        hf.close_session()
        refused = run_module(model_download, args(hub, tmp_path))
        hf.close_session()
        try:
            fetched = run_module(model_download, args(hub, tmp_path, ca_bundle=tls['ca']))
        finally:
            hf.close_session()
    assert refused['failed'] is True
    assert 'ca_bundle' in refused['msg'], refused['msg']
    assert not fetched.get('failed'), fetched
    assert fetched['downloaded_files'] == files_of(model_dir)


def test_standin_hub_serves_the_tiny_model_when_built(hf, run_module, tmp_path):
    """The repository's tiny test model (make model), when it was built, through the stand-in Hub."""
    tiny = os.path.join(os.path.dirname(os.path.abspath(model_download.__file__)), '..', '..',
                        'build', 'models', 'tiny-qwen2')
    if not os.path.isfile(os.path.join(tiny, 'config.json')):
        pytest.skip('build/models/tiny-qwen2 not built (make model)')
    with StandinHub({'llmops/tiny-qwen2': tiny}) as hub:
        result = run_module(model_download, args(hub, tmp_path, repo_id='llmops/tiny-qwen2'))
    assert not result.get('failed'), result
    assert 'model.safetensors' in result['files'] and 'tokenizer.json' in result['files']


# ---- module_utils helpers ----------------------------------------------------------------------------
def test_progress_eta_and_atomic_file(tmp_path):
    now = [100.0]
    path = str(tmp_path / 'deep' / 'p.json')
    prog = md.Progress(path, clock=lambda: now[0], min_interval=0, repo_id='a/b')
    prog.update(files_total=2, bytes_total=1000, files_done=1, bytes_done=200)
    prog.update(state='downloading')
    now[0] += 2
    prog.update(bytes_done=600)
    data = json.load(open(path))
    assert data['state'] == 'downloading' and data['elapsed_s'] == 2.0
    assert data['bytes_per_s'] == 200 and data['eta_s'] == 2.0
    prog.update(bytes_done=5000)  # capped at the total
    assert json.load(open(path))['bytes_done'] == 1000
    prog.update(bytes_done=700, files_done=0)  # a measurement that dips is not shown
    assert json.load(open(path))['bytes_done'] == 1000 and json.load(open(path))['files_done'] == 1
    prog.update(state='done', force=True)
    assert json.load(open(path))['eta_s'] == 0
    assert os.listdir(os.path.dirname(path)) == ['p.json']


def test_progress_writes_are_throttled(tmp_path):
    now = [0.0]
    path = tmp_path / 'p.json'
    prog = md.Progress(str(path), clock=lambda: now[0], min_interval=1.0)
    prog.update(bytes_done=1)
    prog.update(bytes_done=2)
    assert json.loads(path.read_text())['bytes_done'] == 1
    prog.update(bytes_done=3, force=True)
    assert json.loads(path.read_text())['bytes_done'] == 3


def test_fnmatch_filter():
    paths = ['a.json', 'b.safetensors', 'original/c.bin', 'tok/x.json']
    assert md.fnmatch_filter(paths) == paths
    assert md.fnmatch_filter(paths, ['*.json']) == ['a.json', 'tok/x.json']
    assert md.fnmatch_filter(paths, None, ['original/']) == ['a.json', 'b.safetensors', 'tok/x.json']
    assert md.fnmatch_filter(paths, '*.safetensors') == ['b.safetensors']


def test_scrub_and_connection_errors():
    assert md.scrub('Bearer s3cret!', 's3cret') == 'Bearer ********!'
    assert md.is_connection_error(ConnectionRefusedError(111, 'refused'))
    try:
        try:
            raise ConnectionRefusedError(111, 'refused')
        except OSError as inner:
            raise RuntimeError('wrapped') from inner
    except RuntimeError as outer:
        assert md.is_connection_error(outer)
    assert not md.is_connection_error(ValueError('x'))


def test_prepare_environment():
    env = md.prepare_environment('huggingface', '/srv/hf', endpoint='https://mirror.example', ca_bundle='/ca.pem',
                                 token='t', environ={'HF_HUB_OFFLINE': '1'})
    assert env['HF_HOME'] == '/srv/hf' and env['HF_HUB_CACHE'] == '/srv/hf/hub'
    assert env['HF_ENDPOINT'] == 'https://mirror.example' and 'HF_HUB_OFFLINE' not in env
    assert env['SSL_CERT_FILE'] == env['REQUESTS_CA_BUNDLE'] == '/ca.pem'
    assert 'HF_TOKEN' not in env  # the token is passed to the calls, not put into the environment
    env = md.prepare_environment('modelscope', '/srv/ms', endpoint='https://ms.example:8443', token='t', environ={})
    assert env == {'MODELSCOPE_CACHE': '/srv/ms', 'MODELSCOPE_ENDPOINT': 'https://ms.example:8443',
                   'MODELSCOPE_DOMAIN': 'ms.example:8443', 'MODELSCOPE_API_TOKEN': 't'}


# ---- ModelScope (fake package: only the plumbing) --------------------------------------------------
@pytest.fixture
def fake_modelscope(monkeypatch, model_dir):
    """A FAKE ``modelscope`` package: snapshot_download copies model_dir into $MODELSCOPE_CACHE."""
    calls = []

    class ProgressCallback(object):
        def __init__(self, filename, file_size):
            self.filename, self.file_size = filename, file_size

    def snapshot_download(model_id=None, revision=None, cache_dir=None, local_files_only=False,
                          allow_patterns=None, ignore_patterns=None, max_workers=None, token=None,
                          progress_callbacks=None):
        calls.append(dict(model_id=model_id, revision=revision, cache_dir=cache_dir, token=token,
                          local_files_only=local_files_only, allow_patterns=allow_patterns,
                          cache_env=os.environ.get('MODELSCOPE_CACHE')))
        dest = os.path.join(os.environ['MODELSCOPE_CACHE'], 'models', *model_id.split('/'))
        if local_files_only:
            if not os.path.isdir(dest):
                raise ValueError('not in the cache')
            return dest
        for rel in md.fnmatch_filter(files_of(model_dir), allow_patterns, ignore_patterns):
            target = os.path.join(dest, *rel.split('/'))
            if os.path.exists(target):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(str(model_dir), *rel.split('/')), target)
            for cb_cls in progress_callbacks or []:
                cb = cb_cls(rel, os.path.getsize(target))
                cb.update(os.path.getsize(target))
                cb.end()
        return dest

    class HubApi(object):
        def get_model_files(self, model_id, revision=None, recursive=False):
            return [dict(Path=p, Size=os.path.getsize(os.path.join(str(model_dir), p)), Type='blob')
                    for p in files_of(model_dir)]

    mods = {
        'modelscope': types.ModuleType('modelscope'),
        'modelscope.hub': types.ModuleType('modelscope.hub'),
        'modelscope.hub.snapshot_download': types.ModuleType('modelscope.hub.snapshot_download'),
        'modelscope.hub.callback': types.ModuleType('modelscope.hub.callback'),
        'modelscope.hub.api': types.ModuleType('modelscope.hub.api'),
    }
    mods['modelscope'].__version__ = '0.0-fake'
    mods['modelscope'].hub = mods['modelscope.hub']
    mods['modelscope.hub.snapshot_download'].snapshot_download = snapshot_download
    mods['modelscope.hub.callback'].ProgressCallback = ProgressCallback
    mods['modelscope.hub.api'].HubApi = HubApi
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return calls


def test_modelscope_download_idempotent(run_module, fake_modelscope, model_dir, tmp_path):
    params = dict(repo_id='qwen/tiny', source='modelscope', cache_dir=str(tmp_path / 'ms'), token=TOKEN,
                  progress_file=str(tmp_path / 'progress.json'))
    check = run_module(model_download, params, check_mode=True)
    assert check['changed'] is True and 'would download' in check['msg'], check
    assert not (tmp_path / 'progress.json').exists() and not (tmp_path / 'ms').exists()
    first = run_module(model_download, params)
    progress = read_progress(tmp_path)
    second = run_module(model_download, params)
    assert first['changed'] is True, first
    assert first['path'] == str(tmp_path / 'ms' / 'models' / 'qwen' / 'tiny')
    assert first['files'] == files_of(model_dir) and first['bytes'] == total_size(model_dir)
    assert second['changed'] is False and second['downloaded_files'] == []
    download_calls = [c for c in fake_modelscope if not c['local_files_only']]
    assert all(c['cache_env'] == str(tmp_path / 'ms') and c['cache_dir'] is None for c in fake_modelscope)
    assert all(c['revision'] is None and c['token'] == TOKEN for c in download_calls)  # 'main' = repo default
    assert progress['state'] == 'done' and progress['files_done'] == 4
    assert TOKEN not in json.dumps(first)


def test_modelscope_missing_package_is_a_clear_error(run_module, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, 'modelscope', None)  # import modelscope -> ImportError
    result = run_module(model_download, dict(repo_id='qwen/tiny', source='modelscope', cache_dir=str(tmp_path)))
    assert result['failed'] is True
    assert 'needs the modelscope package' in result['msg'] and sys.executable in result['msg']


def test_missing_huggingface_hub_is_a_clear_error(run_module, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, 'huggingface_hub', None)
    result = run_module(model_download, dict(repo_id='a/b', cache_dir=str(tmp_path)))
    assert result['failed'] is True
    assert 'needs the huggingface_hub package' in result['msg'] and 'ansible_python_interpreter' in result['msg']
