# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter untrusted_certificate: did a failed task fail because a server's TLS certificate is not trusted?
(one file per filter, so ansible-doc and Galaxy show each filter's own documentation)"""

from __future__ import annotations

import re

DOCUMENTATION = r"""
name: untrusted_certificate
short_description: Tell whether a failed task's output shows an untrusted TLS certificate
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - Searches a task result (C(msg), C(stdout), C(stderr), ...) for the messages pip, uv, curl and
    Python print when a server's certificate does not verify against the trusted CAs, e.g. a private
    package index or a TLS-intercepting proxy, so that a role can name the CA variable that fixes it.
positional: _input
options:
  _input:
    description: A registered task result, or any text.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Name the CA variable when the index's certificate is not trusted
  ansible.builtin.fail:
    msg: "The package index's certificate is not trusted: set uv_python_ca_bundle_src"
  when: ansible_failed_result | llmops.vllm.untrusted_certificate
"""

RETURN = r"""
_value:
  description: True when the output shows a certificate verification failure.
  type: bool
"""

# pip/requests/urllib3 (OpenSSL), uv (rustls / native-tls), curl.
PATTERN = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|invalid peer certificate|UnknownIssuer"
                     r"|self[- ]signed certificate|unable to get local issuer certificate|SSL certificate problem",
                     re.IGNORECASE)


def _texts(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)
    elif value is not None:
        yield str(value)


def untrusted_certificate(value):
    """True when any text in ``value`` (a task result or a string) shows an untrusted certificate."""
    return any(PATTERN.search(text) for text in _texts(value))


class FilterModule:
    def filters(self):
        return {"untrusted_certificate": untrusted_certificate}
