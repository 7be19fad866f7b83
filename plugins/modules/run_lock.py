#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: One run at a time per host, a lease file that names its holder
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - Internal to the C(llmops.vllm.vllm_service) role; its actions take the lease before a run changes
    the host (C(llmops.vllm.vllm_service_model)) and end it when the run is done
    (C(llmops.vllm.vllm_service_publish)). They work out the holder on the controller.
  - With O(state=acquired) takes the lease in O(path) for O(holder), or renews it when O(holder) holds
    it already. Another run's lease is kept unless it has expired, O(force) is set, or O(take_over)
    names it (its holder is known to be gone); then RV(acquired) is false and RV(holder) names that run.
  - With O(state=released) ends the lease if the run named by C(run_id) in O(holder) holds it;
    another run's lease is left alone.
  - The lease is read and rewritten under an exclusive C(flock) of the file, so two runs deciding at
    the same moment cannot both take it. The file is never followed through a link.
options:
  path:
    description: The lease file (its directory is created root-only).
    type: path
    default: /var/lib/llmops-vllm/run.lock
  state:
    description: Take (or renew) the lease, or end it.
    type: str
    choices: [acquired, released]
    default: acquired
  holder:
    description:
      - The run, as the controller sees it. C(run_id) identifies it; C(controller), C(user), C(pid)
        name it for people; C(boot_id), C(pid_ns) and C(start) let a later run on the same controller
        see that its process is gone.
    type: dict
    required: true
  ttl:
    description: Seconds until the lease expires unless renewed.
    type: int
    default: 7200
  force:
    description: Take the lease even when another run holds it.
    type: bool
    default: false
  take_over:
    description: Take the lease if (and only if) the run with this C(run_id) still holds it.
    type: str
notes:
  - Check mode is supported; it reports whether the lease could be taken and writes nothing.
"""

EXAMPLES = r"""
- name: Take the run lock
  llmops.vllm.run_lock:
    holder: {run_id: 0123abcd, controller: deploy-1, user: ops, pid: 4242}
    ttl: 3600

- name: End it
  llmops.vllm.run_lock:
    holder: {run_id: 0123abcd}
    state: released
"""

RETURN = r"""
acquired:
  description: Whether the run holds the lease now (state=acquired).
  returned: always
  type: bool
reason:
  description:
    - C(free), C(renewed), C(expired) (the other run's lease had expired), C(gone) (O(take_over)),
      C(broken) (O(force)), C(held) (another run holds it), C(released) or C(not held) (state=released).
  returned: always
  type: str
holder:
  description: The lease now (state=acquired), or the other run's when it holds it; C(since) and C(expires) in seconds since the epoch.
  returned: always
  type: dict
previous:
  description: The lease this run took over, if any.
  returned: always
  type: dict
path:
  description: The lease file.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmops.vllm.plugins.module_utils._run_lock import LOCK_PATH, LockError, acquire, release


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": LOCK_PATH},
            "state": {"type": "str", "default": "acquired", "choices": ["acquired", "released"]},
            "holder": {"type": "dict", "required": True},
            "ttl": {"type": "int", "default": 7200},
            "force": {"type": "bool", "default": False},
            "take_over": {"type": "str"},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not p["holder"].get("run_id"):
        module.fail_json(msg="run_lock: holder.run_id is required")
    if p["ttl"] < 1:
        module.fail_json(msg="run_lock: ttl must be at least 1 second, got %d" % p["ttl"])
    try:
        if p["state"] == "released":
            ended = release(p["path"], p["holder"]["run_id"], check_mode=module.check_mode)
            module.exit_json(changed=ended, acquired=False, reason="released" if ended else "not held",
                             holder=None, previous=None, path=p["path"])
        result = acquire(p["path"], p["holder"], p["ttl"], force=p["force"], take_over=p["take_over"],
                         check_mode=module.check_mode)
    except (LockError, OSError) as err:
        module.fail_json(msg="run_lock: %s" % err, path=p["path"])
    module.exit_json(path=p["path"], **result)


if __name__ == "__main__":
    main()
