#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: wait_healthy
short_description: Wait until a vLLM service answers its health URL, failing fast on crashes
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - Polls an HTTP health URL (vLLM's C(/health)) until it answers 200.
  - Watches the systemd unit or Docker container behind it at the same time. When it dies, or its
    restart count climbs past O(max_restarts) (a crash loop under C(Restart=on-failure)), the module
    fails at once with the last log lines instead of waiting out O(timeout).
  - Read-only; runs in check mode too.
options:
  url:
    description: Health URL, for example C(http://127.0.0.1:8000/health).
    type: str
    required: true
  unit:
    description: systemd unit to watch. Exactly one of O(unit) and O(container) is required.
    type: str
  container:
    description: Docker container to watch.
    type: str
  timeout:
    description: Seconds to wait for health (model loads take minutes on real models).
    type: int
    default: 900
  interval:
    description: Seconds between polls.
    type: float
    default: 2.0
  max_restarts:
    description: More restarts than this while waiting counts as a crash loop.
    type: int
    default: 2
  log_lines:
    description: How many log lines to return on failure.
    type: int
    default: 40
  request_timeout:
    description: Timeout of one health request, in seconds.
    type: float
    default: 5.0
  validate_certs:
    description: Verify TLS certificates for C(https) URLs.
    type: bool
    default: true
  ca_path:
    description: PEM file of CA certificates to trust for C(https) URLs.
    type: path
  chat_model:
    description:
      - Once healthy, the server must also answer one short chat request for this served model
        (C(/v1/chat/completions), 4 tokens), or the module fails with the server's answer. Empty skips it.
    type: str
    default: ""
  api_key:
    description: API key for the chat request.
    type: str
notes:
  - Check mode is supported; the module only reads.
"""

EXAMPLES = r"""
- name: Wait for the vLLM unit to become healthy
  llmops.vllm.wait_healthy:
    url: http://127.0.0.1:8000/health
    unit: vllm.service
    timeout: 1200
"""

RETURN = r"""
elapsed_s:
  description: Seconds until the service answered.
  returned: success
  type: float
restarts:
  description: Restart count of the unit or container when it became healthy (or failed).
  returned: always
  type: int
state:
  description: Last state read (active, sub, result, exit_status, restarts, dead).
  returned: always
  type: dict
logs:
  description: Last log lines of the service (journal or container logs).
  returned: failure
  type: list
  elements: str
chat:
  description: The chat check (O(chat_model)) with C(error) (null when it answered), C(latency_ms) and C(usage).
  returned: when O(chat_model) is set
  type: dict
"""

from functools import partial

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmops.vllm.plugins.module_utils._openai_client import OpenAIClient, probe_once

from ansible_collections.llmops.vllm.plugins.module_utils._service_health import (
    ServiceFailed,
    container_logs,
    container_state,
    http_get_status,
    systemd_logs,
    systemd_state,
    wait_healthy,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            unit=dict(type="str"),
            container=dict(type="str"),
            timeout=dict(type="int", default=900),
            interval=dict(type="float", default=2.0),
            max_restarts=dict(type="int", default=2),
            log_lines=dict(type="int", default=40),
            request_timeout=dict(type="float", default=5.0),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            chat_model=dict(type="str", default=""),
            api_key=dict(type="str", no_log=True),
        ),
        required_one_of=[("unit", "container")],
        mutually_exclusive=[("unit", "container")],
        supports_check_mode=True,
    )
    p = module.params

    run = module.run_command
    if p["unit"]:
        get_state = partial(systemd_state, run, p["unit"])
        get_logs = partial(systemd_logs, run, p["unit"], p["log_lines"])
    else:
        get_state = partial(container_state, run, p["container"])
        get_logs = partial(container_logs, run, p["container"], p["log_lines"])

    try:
        result = wait_healthy(
            get_status=partial(http_get_status, p["url"], p["request_timeout"], p["validate_certs"], p["ca_path"]),
            get_state=get_state,
            get_logs=get_logs,
            timeout=p["timeout"],
            interval=p["interval"],
            max_restarts=p["max_restarts"],
        )
    except ServiceFailed as exc:
        name = p["unit"] or p["container"]
        tail = "\n".join(exc.logs[-15:])
        module.fail_json(
            msg="%s: %s%s" % (name, exc, ("\nlast log lines:\n" + tail) if tail else ""),
            state=exc.state, restarts=exc.state.get("restarts", 0), logs=exc.logs,
        )
    if p["chat_model"]:
        result["chat"] = chat_check(p)
        if result["chat"]["error"]:
            module.fail_json(msg="%s answers %s but not a chat request: %s"
                             % (p["unit"] or p["container"], p["url"], result["chat"]["error"]), **result)
    module.exit_json(changed=False, **result)


def chat_check(p):
    """One short chat completion, the way a client would ask (base URL = the health URL's)."""
    base = p["url"].rsplit("/health", 1)[0]
    client = OpenAIClient(base, api_key=p["api_key"], timeout=max(30.0, p["request_timeout"]),
                          validate_certs=p["validate_certs"], ca_path=p["ca_path"])
    out = probe_once(client, ["chat"], model=p["chat_model"], prompt="Hi", max_tokens=4)
    chat = out["check_results"].get("chat", {})
    return {"error": str(out["error"]) if out["error"] else None, "latency_ms": chat.get("latency_ms"),
            "usage": chat.get("usage")}


if __name__ == "__main__":
    main()
