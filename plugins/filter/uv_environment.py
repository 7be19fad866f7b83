# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment every uv/pip call of the roles shares."""

from __future__ import annotations

from ansible_collections.llmops.vllm.plugins.module_utils._uv import environment

DOCUMENTATION = r"""
name: uv_environment
short_description: The environment the roles' uv and pip calls share
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - The user's own variables (a proxy, say), then C(UV_SYSTEM_CERTS)/C(UV_NATIVE_TLS) (uv uses the
    host's trust store; on unless C(native_tls) is false), C(SSL_CERT_FILE)/C(PIP_CERT) for a CA bundle
    and C(UV_OFFLINE) offline. Each role adds its own variables on top.
positional: _input
options:
  _input:
    description: Settings with keys C(environment), C(native_tls), C(ca_bundle) and C(offline).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Behind a TLS-intercepting proxy
  ansible.builtin.debug:
    msg: "{{ {'environment': {'HTTPS_PROXY': 'http://proxy:3128'}, 'ca_bundle': '/etc/ssl/certs/ca-certificates.crt'} | llmops.vllm.uv_environment }}"
"""

RETURN = r"""
_value:
  description: Variable name to value.
  type: dict
"""


def uv_environment(settings):
    return environment(settings)


class FilterModule:
    def filters(self):
        return {"uv_environment": uv_environment}
