# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Download a model snapshot into the cache vLLM reads (Hugging Face Hub or ModelScope), with progress.

``huggingface_hub`` / ``modelscope`` are imported lazily, from the Python that runs the module (the
vLLM venv's): nothing here needs them at import time. Every failure is raised as
:class:`DownloadError` with a message meant for humans (and never the token).

Cache layouts, so that vLLM finds the files later (also with ``HF_HUB_OFFLINE=1``):

* Hugging Face: ``<HF_HOME>/hub/models--<org>--<name>/{refs/<revision>, snapshots/<commit>/..., blobs/}``,
  written by ``huggingface_hub.snapshot_download`` itself (vLLM's service has ``HF_HOME`` set).
* ModelScope: whatever ``modelscope.snapshot_download`` writes under ``MODELSCOPE_CACHE`` (the same
  call vLLM makes with ``VLLM_USE_MODELSCOPE=True``).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from urllib.parse import urlsplit

SOURCES = ('huggingface', 'modelscope')
COMMIT_RE = re.compile(r'^[0-9a-f]{40}$')

# Exception class names (anywhere in the MRO / cause chain) that mean "the hub could not be reached",
# across huggingface_hub's requests (<1.0), httpx (1.x) and httpx2 (2.x) eras.
_CONNECTION_ERRORS = ('ConnectError', 'ConnectionError', 'ConnectTimeout', 'TimeoutException', 'Timeout',
                      'ReadTimeout', 'ProxyError', 'NetworkError', 'OfflineModeIsEnabled', 'SSLError',
                      'NameResolutionError', 'MaxRetryError')


class DownloadError(Exception):
    """The download failed; the message says why (and never contains the token)."""


# ---- small helpers ---------------------------------------------------------------------------------
def is_commit(revision):
    return bool(revision) and COMMIT_RE.match(revision) is not None


def hf_repo_folder(hub_dir, repo_id):
    """``<hub>/models--org--name`` (huggingface_hub's ``repo_folder_name`` for model repos)."""
    return os.path.join(hub_dir, 'models--' + repo_id.replace('/', '--'))


def scrub(text, secret):
    """``text`` with ``secret`` masked (exception texts can echo request details)."""
    text = '%s' % (text,)
    if secret:
        text = text.replace(secret, '********')
    return text


def _class_names(exc):
    seen, names, todo = set(), set(), [exc]
    while todo:
        cur = todo.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        names.update(cls.__name__ for cls in type(cur).__mro__)
        todo.extend([getattr(cur, '__cause__', None), getattr(cur, '__context__', None)])
    return names


def is_connection_error(exc):
    """True when ``exc`` (or its cause) means the hub was unreachable, not that it said no."""
    if getattr(getattr(exc, 'response', None), 'status_code', None):
        return False
    return bool(_class_names(exc) & set(_CONNECTION_ERRORS)) or isinstance(exc, (ConnectionError, TimeoutError))


def http_status(exc):
    return getattr(getattr(exc, 'response', None), 'status_code', None)


def _error_header(exc):
    headers = getattr(getattr(exc, 'response', None), 'headers', None) or {}
    try:
        return headers.get('X-Error-Message') or ''
    except Exception:  # pylint: disable=broad-except
        return ''


def _first_line(exc):
    text = ('%s' % exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_hub_error(exc, repo_id, revision, endpoint, token):
    """A clear one-paragraph reason for a Hugging Face Hub failure."""
    names = _class_names(exc)
    status = http_status(exc)
    where = endpoint or 'the Hugging Face Hub'
    if 'RevisionNotFoundError' in names:
        msg = 'revision %r of %s does not exist on %s' % (revision, repo_id, where)
    elif 'GatedRepoError' in names:
        msg = ('%s is a gated model: accept its conditions on the model page with the account the token '
               'belongs to (HTTP %s)' % (repo_id, status))
    elif status == 401 and 'Invalid credentials' in ('%s %s' % (exc, _error_header(exc))):
        msg = '%s rejected the token (HTTP 401 invalid credentials): check the Hugging Face token' % where
    elif 'RepositoryNotFoundError' in names or status == 401:
        msg = ('%s: repository not found on %s (HTTP %s), or it is private/gated and %s'
               % (repo_id, where, status, 'the token has no access to it' if token else 'no token was given'))
    elif status == 403:
        msg = '%s refused access to %s (HTTP 403): the token lacks the permission to read it' % (where, repo_id)
    elif is_connection_error(exc):
        msg = ('cannot reach %s (%s: %s): check the network, proxy settings (HTTPS_PROXY), the CA bundle '
               '(ca_bundle) or use a mirror (endpoint)' % (where, type(exc).__name__, _first_line(exc)))
    else:
        msg = '%s: %s' % (type(exc).__name__, _first_line(exc))
    return scrub(msg, token)


def dir_listing(root):
    """``{relative path: (size, mtime_ns)}`` of the regular files below ``root`` (symlinks followed)."""
    listing = {}
    if not os.path.isdir(root):
        return listing
    for base, dirs, names in os.walk(root):
        dirs.sort()
        for name in names:
            full = os.path.join(base, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            listing[os.path.relpath(full, root)] = (st.st_size, st.st_mtime_ns)
    return listing


# ---- progress --------------------------------------------------------------------------------------
class Progress(object):
    """Download progress, written as JSON to ``path`` (atomically) for an async poll loop to read.

    Fields: state (resolving|downloading|done|failed), files_done, files_total, bytes_done, bytes_total,
    elapsed_s, eta_s (None while unknown), bytes_per_s, plus repo_id/revision/commit/source and error.
    """

    def __init__(self, path=None, clock=time.monotonic, min_interval=0.5, **fields):
        self.path = path
        self.clock = clock
        self.min_interval = min_interval
        self.lock = threading.Lock()
        self.start = clock()
        self.download_start = None
        self.bytes_at_download_start = 0
        self.last_write = None
        self.data = dict(state='resolving', files_done=0, files_total=None, bytes_done=0, bytes_total=None,
                         elapsed_s=0.0, eta_s=None, bytes_per_s=None)
        self.data.update(fields)

    def snapshot(self):
        with self.lock:
            self._refresh()
            return dict(self.data)

    def _refresh(self):
        now = self.clock()
        data = self.data
        data['elapsed_s'] = round(now - self.start, 1)
        data['eta_s'] = None
        data['bytes_per_s'] = None
        if data['state'] == 'downloading' and self.download_start is not None:
            spent = now - self.download_start
            fetched = (data['bytes_done'] or 0) - self.bytes_at_download_start
            if spent > 0 and fetched > 0:
                rate = fetched / spent
                data['bytes_per_s'] = int(rate)
                if data['bytes_total'] is not None:
                    data['eta_s'] = round(max(data['bytes_total'] - data['bytes_done'], 0) / rate, 1)
        elif data['state'] == 'done':
            data['eta_s'] = 0

    def update(self, force=False, **fields):
        with self.lock:
            if fields.get('state') == 'downloading' and self.data.get('state') != 'downloading':
                self.download_start = self.clock()
                self.bytes_at_download_start = fields.get('bytes_done', self.data.get('bytes_done') or 0)
            elif self.data.get('state') == 'downloading' and 'state' not in fields:
                # Measured from the disk, a file can briefly count as neither partial nor done
                # (renamed, not linked yet): never report going backwards.
                for key in ('files_done', 'bytes_done'):
                    if key in fields and fields[key] is not None:
                        fields[key] = max(fields[key], self.data.get(key) or 0)
            self.data.update(fields)
            if self.data['bytes_total'] is not None and self.data['bytes_done'] is not None:
                self.data['bytes_done'] = min(self.data['bytes_done'], self.data['bytes_total'])
            self._refresh()
            now = self.clock()
            if force or self.last_write is None or now - self.last_write >= self.min_interval:
                self.last_write = now
                self._write()

    def _write(self):
        if not self.path:
            return
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            os.makedirs(directory)
        tmp = '%s.%d.tmp' % (self.path, os.getpid())
        with open(tmp, 'w') as handle:
            json.dump(self.data, handle, sort_keys=True)
            handle.write('\n')
        os.rename(tmp, self.path)


class Watcher(object):
    """Calls ``measure() -> dict`` every ``interval`` seconds in a thread and feeds the result to progress."""

    def __init__(self, progress, measure, interval=0.5):
        self.progress = progress
        self.measure = measure
        self.interval = interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.daemon = True

    def _run(self):
        while not self.stopped.wait(self.interval):
            try:
                self.progress.update(**self.measure())
            except Exception:  # pylint: disable=broad-except
                pass  # progress is best effort; the download itself decides success

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(10)


# ---- environment -----------------------------------------------------------------------------------
def prepare_environment(source, cache_dir, endpoint=None, ca_bundle=None, token=None, environ=None):
    """Set the variables the hub libraries read at import time (call before importing them)."""
    env = os.environ if environ is None else environ
    if ca_bundle:
        # httpx/httpx2 (huggingface_hub >= 1.0) read SSL_CERT_FILE; requests (older huggingface_hub,
        # modelscope) reads REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.
        for name in ('SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
            env[name] = ca_bundle
    if source == 'huggingface':
        env['HF_HOME'] = cache_dir
        env['HF_HUB_CACHE'] = os.path.join(cache_dir, 'hub')
        env['HF_HUB_DISABLE_PROGRESS_BARS'] = '1'
        env['HF_HUB_DISABLE_TELEMETRY'] = '1'
        env.pop('HF_HUB_OFFLINE', None)
        if endpoint:
            env['HF_ENDPOINT'] = endpoint
    else:
        env['MODELSCOPE_CACHE'] = cache_dir
        if endpoint:
            env['MODELSCOPE_ENDPOINT'] = endpoint
            env['MODELSCOPE_DOMAIN'] = urlsplit(endpoint).netloc or endpoint
        if token:
            env['MODELSCOPE_API_TOKEN'] = token
    return env


# ---- Hugging Face ----------------------------------------------------------------------------------
def _import_huggingface_hub(python):
    try:
        import huggingface_hub  # pylint: disable=import-outside-toplevel
        from huggingface_hub import HfApi, snapshot_download  # pylint: disable=import-outside-toplevel
        from huggingface_hub.hf_api import RepoFile  # pylint: disable=import-outside-toplevel
        from huggingface_hub.utils import filter_repo_objects  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise DownloadError(
            'source=huggingface needs the huggingface_hub package in the Python that runs this module (%s): '
            'on a host run the module with the vLLM venv\'s interpreter (ansible_python_interpreter), which has '
            'it; on the controller install it there (pip install huggingface_hub) (%s)' % (python, exc))
    return dict(version=getattr(huggingface_hub, '__version__', 'unknown'), HfApi=HfApi,
                snapshot_download=snapshot_download, RepoFile=RepoFile, filter_repo_objects=filter_repo_objects)


def hf_local_state(repo_dir, revision, commit, files):
    """What the cache holds of ``files`` ({path: size}) at ``commit``; whether refs/<revision> points there."""
    snapshot = os.path.join(repo_dir, 'snapshots', commit)
    present, missing = [], []
    for path, size in sorted(files.items()):
        pointer = os.path.join(snapshot, *path.split('/'))
        try:
            ok = os.path.getsize(pointer) == size if size is not None else os.path.exists(pointer)
        except OSError:
            ok = False
        (present if ok else missing).append(path)
    ref_ok = True
    if not is_commit(revision):
        try:
            with open(os.path.join(repo_dir, 'refs', revision)) as handle:
                ref_ok = handle.read().strip() == commit
        except (IOError, OSError):
            ref_ok = False
    return dict(snapshot=snapshot, present=present, missing=missing, ref_ok=ref_ok)


def hf_measure(repo_dir, snapshot, files):
    """Progress of a running snapshot_download: finished files plus the ``*.incomplete`` blobs."""
    files_done, bytes_done = 0, 0
    for path, size in files.items():
        if os.path.exists(os.path.join(snapshot, *path.split('/'))):
            files_done += 1
            bytes_done += size or 0
    blobs = os.path.join(repo_dir, 'blobs')
    try:
        for name in os.listdir(blobs):
            if name.endswith('.incomplete'):
                try:
                    bytes_done += os.path.getsize(os.path.join(blobs, name))
                except OSError:
                    pass
    except OSError:
        pass
    return dict(files_done=files_done, bytes_done=bytes_done)


def download_huggingface(repo_id, revision='main', cache_dir=None, token=None, endpoint=None,
                         allow_patterns=None, ignore_patterns=None, max_workers=8, check_mode=False,
                         progress=None, warn=None, python='python', interval=0.5):
    """Make ``<cache_dir>/hub`` hold the complete snapshot of ``repo_id`` at ``revision``.

    Returns the result dict of the module (changed, path, commit, files, bytes, downloaded_*).
    """
    hf = _import_huggingface_hub(python)
    progress = progress or Progress()
    warn = warn or (lambda msg: None)
    token = token or None
    hub_dir = os.path.join(cache_dir, 'hub')
    repo_dir = hf_repo_folder(hub_dir, repo_id)
    result = dict(source='huggingface', repo_id=repo_id, revision=revision, cache_dir=cache_dir,
                  library_version=hf['version'])

    # 1. Resolve the revision to a commit and list the files (the Hub's repo info + tree API).
    api = hf['HfApi'](endpoint=endpoint or None, token=token)
    try:
        commit = revision if is_commit(revision) else api.repo_info(repo_id, revision=revision).sha
        entries = [e for e in api.list_repo_tree(repo_id, revision=commit, recursive=True)
                   if isinstance(e, hf['RepoFile'])]
    except Exception as exc:  # pylint: disable=broad-except
        if not is_connection_error(exc):
            raise DownloadError(describe_hub_error(exc, repo_id, revision, endpoint, token))
        return _hf_unreachable(hf, exc, repo_id, revision, hub_dir, endpoint, token, allow_patterns,
                               ignore_patterns, check_mode, progress, warn, result)
    sizes = dict((e.path, e.size) for e in entries)
    wanted = list(hf['filter_repo_objects'](sorted(sizes), allow_patterns=allow_patterns,
                                            ignore_patterns=ignore_patterns))
    files = dict((path, sizes[path]) for path in wanted)
    if not files:
        raise DownloadError('no file of %s at %s matches allow_patterns=%s / ignore_patterns=%s'
                            % (repo_id, revision, allow_patterns, ignore_patterns))
    total = sum(size or 0 for size in files.values())
    state = hf_local_state(repo_dir, revision, commit, files)
    missing_bytes = sum(files[path] or 0 for path in state['missing'])
    result.update(commit=commit, path=state['snapshot'], files=sorted(files), bytes=total,
                  downloaded_files=state['missing'], downloaded_bytes=missing_bytes)
    done_bytes = total - missing_bytes
    progress.update(commit=commit, files_total=len(files), bytes_total=total,
                    files_done=len(state['present']), bytes_done=done_bytes)

    # 2. Complete already (and refs/<revision> points at it): nothing to do.
    if not state['missing'] and state['ref_ok']:
        progress.update(state='done', force=True)
        result.update(changed=False, msg='%s@%s (%s) is complete in the cache' % (repo_id, revision, commit[:12]))
        return result
    if check_mode:
        result.update(changed=True, msg='would download %d of %d files (%d of %d bytes)%s' % (
            len(state['missing']), len(files), missing_bytes, total,
            '' if state['ref_ok'] else ' and point refs/%s at %s' % (revision, commit[:12])))
        return result

    # 3. Download; snapshot_download writes blobs, snapshots/<commit> and refs/<revision> itself.
    progress.update(state='downloading', force=True)

    def measure():
        return hf_measure(repo_dir, state['snapshot'], files)

    kwargs = dict(revision=revision, cache_dir=hub_dir, token=token, allow_patterns=allow_patterns,
                  ignore_patterns=ignore_patterns, max_workers=max_workers)
    if endpoint:
        kwargs['endpoint'] = endpoint
    try:
        with Watcher(progress, measure, interval):
            path = hf['snapshot_download'](repo_id, **kwargs)
    except Exception as exc:  # pylint: disable=broad-except
        raise DownloadError(describe_hub_error(exc, repo_id, revision, endpoint, token))
    got = os.path.basename(os.path.normpath(path))
    if got != commit:  # the branch moved between our look-up and the download
        warn('%s moved from %s to %s during the download' % (revision, commit, got))
        result.update(commit=got)
    final = hf_local_state(repo_dir, revision, got, files if got == commit else {})
    if final['missing']:
        raise DownloadError('the download of %s ended without %d file(s): %s'
                            % (repo_id, len(final['missing']), ', '.join(final['missing'][:5])))
    progress.update(state='done', force=True, **measure())
    result.update(changed=True, path=path, msg='downloaded %d files (%d bytes) of %s@%s (%s)' % (
        len(state['missing']), missing_bytes, repo_id, revision, got[:12]))
    return result


def _hf_unreachable(hf, exc, repo_id, revision, hub_dir, endpoint, token, allow_patterns, ignore_patterns,
                    check_mode, progress, warn, result):
    """The Hub is unreachable: fine when the cache holds a complete snapshot (what vLLM would use offline)."""
    reason = describe_hub_error(exc, repo_id, revision, endpoint, token)
    try:
        path = hf['snapshot_download'](repo_id, revision=revision, cache_dir=hub_dir, local_files_only=True,
                                       allow_patterns=allow_patterns, ignore_patterns=ignore_patterns)
    except Exception as local_exc:  # pylint: disable=broad-except
        if check_mode:
            warn('%s; the cache has no complete snapshot of %s@%s, so a real run would have to download it '
                 '(and fails while the Hub stays unreachable)' % (reason, repo_id, revision))
            result.update(changed=True, commit=None, path=None, files=[], bytes=None, downloaded_files=[],
                          downloaded_bytes=None, msg='cannot tell what would be downloaded: ' + reason)
            return result
        raise DownloadError('%s; and the cache (%s) holds no complete snapshot of %s@%s (%s)' % (
            reason, hub_dir, repo_id, revision, scrub(_first_line(local_exc), token)))
    listing = dir_listing(path)
    warn('%s; using the snapshot in the cache as it is (whether %s has moved on could not be checked)'
         % (reason, revision))
    progress.update(state='done', force=True, files_total=len(listing), files_done=len(listing),
                    bytes_total=sum(s for s, _m in listing.values()), bytes_done=sum(s for s, _m in listing.values()),
                    commit=os.path.basename(path))
    result.update(changed=False, commit=os.path.basename(os.path.normpath(path)), path=path,
                  files=sorted(p.replace(os.sep, '/') for p in listing), bytes=sum(s for s, _m in listing.values()),
                  downloaded_files=[], downloaded_bytes=0, offline=True,
                  msg='the Hub was unreachable; the cached snapshot is complete')
    return result


# ---- ModelScope ------------------------------------------------------------------------------------
def _import_modelscope(python):
    try:
        from modelscope.hub.snapshot_download import snapshot_download  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise DownloadError(
            'source=modelscope needs the modelscope package in the Python that runs this module (%s), as '
            'vLLM does with VLLM_USE_MODELSCOPE=True: install it into the vLLM venv (e.g. '
            '"uv pip install --python %s modelscope") (%s)' % (python, python, exc))
    return snapshot_download


def _modelscope_file_sizes(repo_id, revision, allow_patterns, ignore_patterns, fnmatch_filter):
    """{path: size} from ModelScope's file listing, or None when this modelscope version cannot say."""
    try:
        from modelscope.hub.api import HubApi  # pylint: disable=import-outside-toplevel
        kwargs = dict(recursive=True)
        if revision:
            kwargs['revision'] = revision
        listing = HubApi().get_model_files(repo_id, **kwargs)
        sizes = dict((f['Path'], f.get('Size')) for f in listing if f.get('Type', 'blob') != 'tree')
    except Exception:  # pylint: disable=broad-except
        return None
    return dict((p, sizes[p]) for p in fnmatch_filter(sorted(sizes), allow_patterns, ignore_patterns))


def fnmatch_filter(paths, allow_patterns=None, ignore_patterns=None):
    """huggingface_hub's filter_repo_objects semantics (fnmatch; a trailing / means the whole folder)."""
    from fnmatch import fnmatch  # pylint: disable=import-outside-toplevel

    def norm(patterns):
        if patterns is None:
            return None
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        return [p + '*' if p.endswith('/') else p for p in patterns]

    allow, ignore = norm(allow_patterns), norm(ignore_patterns)
    return [p for p in paths
            if (allow is None or any(fnmatch(p, pat) for pat in allow))
            and not (ignore is not None and any(fnmatch(p, pat) for pat in ignore))]


def download_modelscope(repo_id, revision='main', cache_dir=None, token=None, endpoint=None,
                        allow_patterns=None, ignore_patterns=None, max_workers=8, check_mode=False,
                        progress=None, warn=None, python='python', interval=0.5):
    """Make ``MODELSCOPE_CACHE`` (= ``cache_dir``) hold ``repo_id``, with the call vLLM makes itself."""
    import inspect  # pylint: disable=import-outside-toplevel

    snapshot_download = _import_modelscope(python)
    progress = progress or Progress()
    warn = warn or (lambda msg: None)
    # ModelScope repos have a "master" branch, not "main": "main" means the repo's default, as vLLM does.
    ms_revision = None if revision in (None, '', 'main') else revision
    params = inspect.signature(snapshot_download).parameters
    result = dict(source='modelscope', repo_id=repo_id, revision=revision, cache_dir=cache_dir, commit=None,
                  library_version=None)
    try:
        import modelscope  # pylint: disable=import-outside-toplevel
        result['library_version'] = getattr(modelscope, '__version__', None)
    except ImportError:
        pass

    def call(**extra):
        kwargs = dict(model_id=repo_id, revision=ms_revision)
        if allow_patterns is not None:
            kwargs['allow_patterns' if 'allow_patterns' in params else 'allow_file_pattern'] = allow_patterns
        if ignore_patterns is not None:
            kwargs['ignore_patterns' if 'ignore_patterns' in params else 'ignore_file_pattern'] = ignore_patterns
        if token and 'token' in params:
            kwargs['token'] = token
        if endpoint and 'endpoint' in params:
            kwargs['endpoint'] = endpoint
        if 'max_workers' in params:
            kwargs['max_workers'] = max_workers
        kwargs.update((k, v) for k, v in extra.items() if k in params)
        return snapshot_download(**kwargs)

    def fail(exc, what):
        return DownloadError(scrub('%s %s from ModelScope%s failed: %s: %s' % (
            what, repo_id, ' (%s)' % endpoint if endpoint else '', type(exc).__name__, _first_line(exc)), token))

    # What the cache holds now (no network): the same look-up vLLM makes offline.
    try:
        local_path = call(local_files_only=True) if 'local_files_only' in params else None
    except Exception:  # pylint: disable=broad-except
        local_path = None
    before = dir_listing(local_path) if local_path else {}
    if check_mode:
        if local_path and before:
            warn('the ModelScope cache holds %s; whether it is complete and current cannot be checked '
                 'without downloading' % repo_id)
        result.update(changed=not (local_path and before), path=local_path, files=sorted(before),
                      bytes=sum(s for s, _m in before.values()), downloaded_files=[], downloaded_bytes=None,
                      msg=('%s is in the ModelScope cache' % repo_id) if before else
                      'would download %s from ModelScope' % repo_id)
        return result

    sizes = _modelscope_file_sizes(repo_id, ms_revision, allow_patterns, ignore_patterns, fnmatch_filter)
    totals = dict(files_total=len(sizes), bytes_total=sum(s or 0 for s in sizes.values())) if sizes else {}
    counters = dict(files_done=0, bytes_done=0)
    extra = {}
    if 'progress_callbacks' in params:
        try:
            from modelscope.hub.callback import ProgressCallback  # pylint: disable=import-outside-toplevel
        except ImportError:
            ProgressCallback = object  # noqa: N806

        class _Count(ProgressCallback):  # pylint: disable=too-few-public-methods
            lock = threading.Lock()

            def __init__(self, filename, file_size):  # pylint: disable=super-init-not-called
                self.filename, self.file_size = filename, file_size

            def update(self, size):
                with self.lock:
                    counters['bytes_done'] += size

            def end(self):
                with self.lock:
                    counters['files_done'] += 1

        extra['progress_callbacks'] = [_Count]

        def measure():
            return dict(counters)
    else:
        root_before = dir_listing(cache_dir)

        def measure():
            now = dir_listing(cache_dir)
            new = [p for p, v in now.items() if root_before.get(p) != v]
            return dict(files_done=len(new), bytes_done=sum(now[p][0] for p in new))

    progress.update(state='downloading', force=True, files_done=0, bytes_done=0, **totals)
    try:
        # (walking the whole cache is slower than counting callbacks: not more often than every 2s)
        with Watcher(progress, measure, interval if 'progress_callbacks' in params else max(interval, 2.0)):
            path = call(**extra)
    except Exception as exc:  # pylint: disable=broad-except
        raise fail(exc, 'downloading')
    after = dir_listing(path)
    changed = after != before
    new = sorted(p for p, v in after.items() if before.get(p) != v)
    progress.update(state='done', force=True, files_total=len(after), files_done=len(after),
                    bytes_total=sum(s for s, _m in after.values()), bytes_done=sum(s for s, _m in after.values()))
    result.update(changed=changed, path=path, files=sorted(p.replace(os.sep, '/') for p in after),
                  bytes=sum(s for s, _m in after.values()), downloaded_files=new,
                  downloaded_bytes=sum(after[p][0] for p in new),
                  msg=('downloaded %d files of %s from ModelScope' % (len(new), repo_id)) if changed else
                  '%s is complete in the ModelScope cache' % repo_id)
    return result


def download(source, **kwargs):
    if source not in SOURCES:
        raise DownloadError('unknown source %r (one of %s)' % (source, ', '.join(SOURCES)))
    return (download_huggingface if source == 'huggingface' else download_modelscope)(**kwargs)
