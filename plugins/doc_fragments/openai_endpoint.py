# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # Options shared by the modules that talk to an OpenAI-compatible server.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the OpenAI-compatible server, for example V(http://127.0.0.1:8000).
      - A trailing V(/v1) is accepted and ignored; the modules add V(/v1/...), V(/health) and V(/version) themselves.
      - The request is made from the managed host, so V(127.0.0.1) means that host.
    type: str
    required: true
  api_key:
    description:
      - "API key sent as C(Authorization: Bearer <api_key>) (vLLM C(--api-key) / E(VLLM_API_KEY))."
      - Omit for servers without authentication.
    type: str
  timeout:
    description:
      - Timeout in seconds for each request (connect and each read).
      - For streamed requests it bounds the wait for each chunk, not the whole stream.
    type: float
    default: 30
  validate_certs:
    description:
      - Verify the server's TLS certificate for V(https://) URLs.
      - Set to V(false) only for self-signed test servers.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) to trust for V(https://) URLs, instead of the system store.
    type: path
  wait_timeout:
    description:
      - Keep retrying for up to this many seconds while the server is not ready
        (connection refused, timeouts, HTTP 5xx or 429, cut-off replies).
      - Failures that waiting cannot fix (authentication, HTTP 4xx, model not served) end the wait at once.
      - V(0) means a single try.
    type: float
    default: 0
  wait_interval:
    description:
      - Seconds to sleep between tries while O(wait_timeout) has not passed.
    type: float
    default: 1
notes:
  - Only the Python standard library is used on the managed host; nothing needs to be installed there.
"""
