#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: router_worker
short_description: Take a vLLM server out of a running vLLM router, or put it back
version_added: 0.3.0
author: llmops.vllm maintainers (@llmops)
description:
  - Talks to the worker admin API of vLLM's router (PyPI C(vllm-router), as run by C(llmops.vllm.vllm_router))
    on the router host, usually its loopback (run the task with C(delegate_to) the router host).
  - With O(state=absent) the router stops sending new requests to O(url); requests it already sent
    finish. C(llmops.vllm.vllm_service) does this before it restarts an instance, and puts the instance
    back (O(state=present)) once it answers its health check again.
  - O(state=present) returns once the router has taken the worker (the router waits for its health check).
  - A router that does not answer (not deployed yet, stopped) has nothing to drain; with
    O(unreachable_ok=true) that is reported as RV(reachable=false), not as a failure.
options:
  router_url:
    description: The router's own address (not the TLS door), e.g. C(http://127.0.0.1:30000).
    type: str
    required: true
  url:
    description: The worker (vLLM server) as the router knows it, e.g. C(http://10.0.0.11:8000).
    type: str
    required: true
  state:
    description: Whether the router routes to O(url).
    type: str
    choices: [present, absent]
    default: present
  unreachable_ok:
    description: A router that does not answer is not a failure (nothing is routed through it).
    type: bool
    default: true
  timeout:
    description: Seconds for listing and removing.
    type: float
    default: 10
  add_timeout:
    description: Seconds the router may take to accept an added worker (it waits for the worker's health).
    type: float
    default: 900
notes:
  - Check mode is supported; the router is only asked which workers it has.
"""

EXAMPLES = r"""
- name: Take this server out of the router before restarting it
  llmops.vllm.router_worker:
    router_url: http://127.0.0.1:30000
    url: http://10.0.0.11:8000
    state: absent
  delegate_to: router-1
  register: taken_out

- name: Put it back (only where it was taken out)
  llmops.vllm.router_worker:
    router_url: http://127.0.0.1:30000
    url: http://10.0.0.11:8000
    state: present
  delegate_to: router-1
  when: taken_out.listed_before
"""

RETURN = r"""
reachable:
  description: Whether the router answered.
  returned: always
  type: bool
listed_before:
  description: Whether the router listed O(url) before this task.
  returned: always
  type: bool
workers:
  description: The workers the router lists after this task (as it would be, in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmops.vllm.plugins.module_utils._router_admin import RouterAdminError, set_worker


def main():
    module = AnsibleModule(
        argument_spec=dict(
            router_url=dict(type="str", required=True),
            url=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            unreachable_ok=dict(type="bool", default=True),
            timeout=dict(type="float", default=10),
            add_timeout=dict(type="float", default=900),
        ),
        supports_check_mode=True,
    )
    p = module.params
    present = p["state"] == "present"
    worker = p["url"].rstrip("/")
    try:
        changed, before = set_worker(p["router_url"], worker, present, module.check_mode, p["timeout"], p["add_timeout"])
    except RouterAdminError as exc:
        if exc.unreachable and p["unreachable_ok"]:
            module.exit_json(changed=False, reachable=False, listed_before=False, workers=[], msg=exc.msg)
        module.fail_json(msg=exc.msg, reachable=not exc.unreachable)
    after = [w for w in before if w != worker or present] + ([worker] if present and worker not in before else [])
    module.exit_json(changed=changed, reachable=True, listed_before=worker in before, workers=after)


if __name__ == "__main__":
    main()
