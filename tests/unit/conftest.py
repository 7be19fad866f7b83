# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``ansible_collections.llmops.vllm`` importable and provide module-test helpers.

The collection root is the repository root. Python can only import it as
``ansible_collections.llmops.vllm`` from a directory laid out as
``<dir>/ansible_collections/llmops/vllm``, so (unless the checkout already
sits in such a tree, as under ``ansible-test units``) this creates the
symlink ``build/collections/ansible_collections/llmops/vllm -> <repo root>``
(idempotently, relative to this file) and puts ``build/collections`` first on
``sys.path``.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

NAMESPACE = 'llmops'
NAME = 'vllm'

UNIT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(UNIT_DIR))


def _collections_root():
    parts = REPO_ROOT.split(os.sep)
    if len(parts) > 3 and parts[-3] == 'ansible_collections':
        return os.sep.join(parts[:-3])
    base = os.path.join(REPO_ROOT, 'build', 'collections')
    ns_dir = os.path.join(base, 'ansible_collections', NAMESPACE)
    link = os.path.join(ns_dir, NAME)
    os.makedirs(ns_dir, exist_ok=True)
    target = os.path.relpath(REPO_ROOT, ns_dir)
    if os.path.islink(link) and os.path.realpath(link) != os.path.realpath(REPO_ROOT):
        os.unlink(link)
    if not os.path.lexists(link):
        try:
            os.symlink(target, link)
        except FileExistsError:  # another process made it meanwhile
            pass
    return base


COLLECTIONS_ROOT = _collections_root()
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)

# Requests to the local test servers must never go through a proxy.
for _var in ('no_proxy', 'NO_PROXY'):
    _hosts = [h for h in os.environ.get(_var, '').split(',') if h]
    for _host in ('127.0.0.1', 'localhost'):
        if _host not in _hosts:
            _hosts.append(_host)
    os.environ[_var] = ','.join(_hosts)


class AnsibleExitJson(Exception):
    """Raised instead of exit_json."""


class AnsibleFailJson(Exception):
    """Raised instead of fail_json."""


@pytest.fixture
def run_module():
    """Run a module's ``main()`` in-process with ``args``; return its result dict.

    The standard Ansible unit-test pattern: module args are patched in,
    ``exit_json``/``fail_json`` raise instead of exiting. The result has
    ``failed: True`` when the module called ``fail_json``; warnings the module
    emitted are in ``_warnings``.
    """
    from unittest import mock

    from ansible.module_utils import basic
    from ansible.module_utils.testing import patch_module_args

    def exit_json(self, **kwargs):
        kwargs.setdefault('changed', False)
        raise AnsibleExitJson(kwargs)

    def fail_json(self, **kwargs):
        kwargs['failed'] = True
        raise AnsibleFailJson(kwargs)

    def _run(module, args, check_mode=False):
        args = dict(args)
        if check_mode:
            args['_ansible_check_mode'] = True
        warnings = []

        def warn(self, warning):
            warnings.append(warning)

        with patch_module_args(args), \
                mock.patch.object(basic.AnsibleModule, 'exit_json', exit_json), \
                mock.patch.object(basic.AnsibleModule, 'fail_json', fail_json), \
                mock.patch.object(basic.AnsibleModule, 'warn', warn):
            with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as exc_info:
                module.main()
        result = exc_info.value.args[0]
        json.dumps(result)  # results must be JSON-serializable
        result['_warnings'] = warnings
        return result

    return _run
