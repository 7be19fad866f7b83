#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: model_download
short_description: Download a model snapshot from the Hugging Face Hub or ModelScope into vLLM's cache
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - Downloads every file of model O(repo_id) at O(revision) into the cache that vLLM reads, so the server
    starts without a download (and can run with C(HF_HUB_OFFLINE=1) afterwards).
  - "Hugging Face: the files land in C(<cache_dir>/hub/models--<org>--<name>/) (C(refs/<revision>),
    C(snapshots/<commit>/), C(blobs/)), written by C(huggingface_hub.snapshot_download). Set O(cache_dir) to
    the service's E(HF_HOME)."
  - "ModelScope: the files land where C(modelscope.snapshot_download) puts them under E(MODELSCOPE_CACHE)
    (= O(cache_dir)), the call vLLM makes with E(VLLM_USE_MODELSCOPE=True)."
  - The hub library is imported from the Python that runs the module, so run it with the vLLM venv's
    interpreter (task-level C(vars) C(ansible_python_interpreter=<venv>/bin/python)). C(huggingface_hub) comes with
    vLLM; C(modelscope) must be installed into the venv for O(source=modelscope).
  - While downloading, the progress is written as JSON to O(progress_file), for an C(async) poll loop to show.
  - Idempotent. For Hugging Face the revision is resolved to a commit and listed (two small API requests);
    when every file is in the cache and C(refs/<revision>) points at that commit nothing is downloaded and
    the result is not changed. When the Hub cannot be reached but the cache holds a complete snapshot,
    that snapshot is used with a warning.
options:
  repo_id:
    description: Model repository, C(<org>/<name>), for example V(Qwen/Qwen2.5-1.5B-Instruct).
    type: str
    required: true
  revision:
    description:
      - Branch, tag or commit hash.
      - For ModelScope, V(main) means the repository's default branch (ModelScope's is C(master)).
    type: str
    default: main
  source:
    description: Where to download from.
    type: str
    choices: [huggingface, modelscope]
    default: huggingface
  cache_dir:
    description:
      - For V(huggingface) the E(HF_HOME)-style root (files go to C(<cache_dir>/hub)), for V(modelscope) the
        E(MODELSCOPE_CACHE) root. Must be what the vLLM service uses.
      - Defaults to E(HF_HOME) or C(~/.cache/huggingface) (E(MODELSCOPE_CACHE) or C(~/.cache/modelscope)) of
        the user the module runs as.
    type: path
  token:
    description:
      - Access token for private or gated models (Hugging Face token; ModelScope SDK token).
      - Never returned or logged. Empty means the library's own default (E(HF_TOKEN), a stored login).
    type: str
  endpoint:
    description:
      - Base URL of a Hub mirror or a Hub-compatible server (E(HF_ENDPOINT), E(MODELSCOPE_ENDPOINT)); empty for the
        public hub.
    type: str
  allow_patterns:
    description: Only download the files matching one of these glob patterns (for example V(*.safetensors)).
    type: list
    elements: str
  ignore_patterns:
    description: Skip the files matching one of these glob patterns (for example V(original/*)).
    type: list
    elements: str
  progress_file:
    description:
      - "Path of a JSON file the module rewrites while it runs: C(state) (C(resolving), C(downloading), C(done),
        C(failed)), C(files_done), C(files_total), C(bytes_done), C(bytes_total), C(elapsed_s), C(eta_s),
        C(bytes_per_s), C(commit) and C(error) on failure."
      - Not written in check mode.
    type: path
  ca_bundle:
    description: PEM file of CA certificates to trust for the hub (TLS-intercepting proxies, private mirrors).
    type: path
  max_workers:
    description: Files downloaded in parallel.
    type: int
    default: 8
notes:
  - Check mode is supported. For Hugging Face it reports exactly which files would be downloaded (it needs the Hub
    to resolve the revision; when the Hub cannot be reached it says so and reports a change). For ModelScope it
    can only tell whether the cache holds the model at all.
  - Secrets are never part of the result or the progress file.
seealso:
  - name: huggingface_hub snapshot_download
    description: The download function used for the Hugging Face Hub.
    link: https://huggingface.co/docs/huggingface_hub/guides/download#download-an-entire-repository
"""

EXAMPLES = r"""
- name: Pre-download the model into the service's HF_HOME, as the service user, with the venv's Python
  llmops.vllm.model_download:
    repo_id: Qwen/Qwen2.5-1.5B-Instruct
    cache_dir: /var/lib/vllm/hf
    token: "{{ hf_token | default(omit) }}"
    progress_file: /var/lib/vllm/tmp/model-download.json
  become: true
  become_user: vllm
  vars:
    ansible_python_interpreter: /opt/vllm/venv/bin/python

- name: Only the safetensors weights and the configs, from a mirror
  llmops.vllm.model_download:
    repo_id: Qwen/Qwen2.5-1.5B-Instruct
    revision: 989aa7980e4cf806f80c7fef2b1adb7bc71aa306
    cache_dir: /var/lib/vllm/hf
    endpoint: https://hf-mirror.example.com
    allow_patterns: ["*.json", "*.safetensors", "tokenizer*"]
  vars:
    ansible_python_interpreter: /opt/vllm/venv/bin/python

- name: From ModelScope (needs modelscope in the venv)
  llmops.vllm.model_download:
    repo_id: Qwen/Qwen2.5-1.5B-Instruct
    source: modelscope
    cache_dir: /var/lib/vllm/modelscope
  vars:
    ansible_python_interpreter: /opt/vllm/venv/bin/python
"""

RETURN = r"""
path:
  description: Directory of the snapshot (what vLLM loads); in check mode where it would be.
  returned: success
  type: str
  sample: /var/lib/vllm/hf/hub/models--Qwen--Qwen2.5-1.5B-Instruct/snapshots/989aa7980e4cf806f80c7fef2b1adb7bc71aa306
commit:
  description: Commit the revision resolved to (Hugging Face); null for ModelScope.
  returned: success
  type: str
files:
  description: Files of the snapshot (relative paths, after O(allow_patterns) / O(ignore_patterns)).
  returned: success
  type: list
  elements: str
bytes:
  description: Total size of RV(files) in bytes.
  returned: success
  type: int
downloaded_files:
  description: Files that were missing and got downloaded (in check mode, would be).
  returned: success
  type: list
  elements: str
downloaded_bytes:
  description: Size of RV(downloaded_files) in bytes.
  returned: success
  type: int
source:
  description: V(huggingface) or V(modelscope).
  returned: always
  type: str
cache_dir:
  description: The cache root used.
  returned: always
  type: str
library_version:
  description: Version of huggingface_hub / modelscope that did the work.
  returned: success
  type: str
elapsed_s:
  description: Seconds the module ran.
  returned: always
  type: float
offline:
  description: True when the hub could not be reached and the complete cached snapshot was used as it is.
  returned: when the hub was unreachable
  type: bool
msg:
  description: What happened, in words.
  returned: always
  type: str
"""

import os
import pwd
import sys
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmops.vllm.plugins.module_utils._model_download import (
    DownloadError,
    Progress,
    download,
    prepare_environment,
    scrub,
)


def default_cache_dir(source):
    """The library's own default for the user the module runs as."""
    home = os.environ.get('HOME') or pwd.getpwuid(os.getuid()).pw_dir
    if source == 'modelscope':
        return os.environ.get('MODELSCOPE_CACHE') or os.path.join(home, '.cache', 'modelscope')
    return os.environ.get('HF_HOME') or os.path.join(home, '.cache', 'huggingface')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            repo_id=dict(type='str', required=True),
            revision=dict(type='str', default='main'),
            source=dict(type='str', default='huggingface', choices=['huggingface', 'modelscope']),
            cache_dir=dict(type='path'),
            token=dict(type='str', no_log=True),
            endpoint=dict(type='str'),
            allow_patterns=dict(type='list', elements='str'),
            ignore_patterns=dict(type='list', elements='str'),
            progress_file=dict(type='path'),
            ca_bundle=dict(type='path'),
            max_workers=dict(type='int', default=8),
        ),
        supports_check_mode=True,
    )
    p = module.params
    start = time.monotonic()
    repo_id = p['repo_id'].strip()
    if repo_id.count('/') != 1 or not all(repo_id.split('/')):
        module.fail_json(msg='repo_id must be <org>/<name>, got %r' % repo_id, source=p['source'],
                         cache_dir=p['cache_dir'], elapsed_s=0.0)
    cache_dir = os.path.abspath(p['cache_dir'] or default_cache_dir(p['source']))
    endpoint = (p['endpoint'] or '').strip().rstrip('/') or None
    token = p['token'] or None
    if p['ca_bundle'] and not os.path.isfile(p['ca_bundle']):
        module.fail_json(msg='ca_bundle %s is not a file' % p['ca_bundle'], source=p['source'],
                         cache_dir=cache_dir, elapsed_s=0.0)
    if p['max_workers'] < 1:
        module.fail_json(msg='max_workers must be at least 1', source=p['source'], cache_dir=cache_dir, elapsed_s=0.0)

    prepare_environment(p['source'], cache_dir, endpoint=endpoint, ca_bundle=p['ca_bundle'], token=token)
    progress = Progress(None if module.check_mode else p['progress_file'], source=p['source'],
                        repo_id=repo_id, revision=p['revision'], commit=None)
    try:
        progress.update(force=True)
        result = download(
            p['source'], repo_id=repo_id, revision=p['revision'], cache_dir=cache_dir, token=token,
            endpoint=endpoint, allow_patterns=p['allow_patterns'], ignore_patterns=p['ignore_patterns'],
            max_workers=p['max_workers'], check_mode=module.check_mode, progress=progress, warn=module.warn,
            python=sys.executable)
    except (DownloadError, OSError) as exc:
        msg = scrub('%s' % exc if isinstance(exc, DownloadError) else '%s: %s' % (type(exc).__name__, exc), token)
        try:
            progress.update(state='failed', error=msg, force=True)
        except OSError:
            pass
        module.fail_json(msg=msg, source=p['source'], cache_dir=cache_dir,
                         elapsed_s=round(time.monotonic() - start, 1))
    result['elapsed_s'] = round(time.monotonic() - start, 1)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
