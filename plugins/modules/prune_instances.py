#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: prune_instances
short_description: Stop and remove the vLLM instances a host no longer lists (units or containers)
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - Every instance that C(llmops.vllm.vllm_service) deploys in systemd mode has C(<config_dir>/<name>.env).
    Each such instance whose name is not in O(keep) is stopped and disabled, and its unit, environment
    file, secrets file (C(<config_dir>/secrets/<name>.env)), TLS files (C(<config_dir>/<name>.tls.crt),
    C(<config_dir>/<name>.tls-ca.pem), C(<config_dir>/secrets/<name>.tls.key)) and last good copies are
    removed; systemd then reloads.
  - In container mode every instance's container carries the label C(llmops.vllm.instance=<name>) and
    has C(<config_dir>/<name>.container.json). Each one whose name is not in O(keep) is removed with
    C(docker rm -f), and so are its settings, their last good copy and its TLS files.
  - Only what the role created is touched; names come from the role's own env files, and a name that
    is not a plain instance name is left alone.
  - Their state directories (model caches) are kept.
options:
  mode:
    description: What the instances run as.
    type: str
    choices: [systemd, container]
    default: systemd
  keep:
    description: The instances still listed.
    type: list
    elements: str
    required: true
  config_dir:
    description: Where the instances' env files are.
    type: path
    default: /etc/vllm
  rollback_dir:
    description: Where their last good copies are.
    type: path
    default: /etc/vllm/last-good
  unit_dir:
    description: Where their units are.
    type: path
    default: /etc/systemd/system
notes:
  - Check mode is supported; it reports what would be removed.
"""

EXAMPLES = r"""
- name: Remove instances no longer listed
  llmops.vllm.prune_instances:
    keep: [chat, code]
"""

RETURN = r"""
removed:
  description: The instances removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

NAME_RE = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}")
LABEL = "llmops.vllm.instance"


def stale_units(config_dir, keep):
    """Instances with an env file in config_dir (the role's own files only) that are not kept."""
    try:
        entries = os.listdir(config_dir)
    except FileNotFoundError:
        return []
    names = []
    for entry in entries:
        path = os.path.join(config_dir, entry)
        if not entry.endswith(".env") or os.path.islink(path) or not os.path.isfile(path):
            continue
        name = entry[:-len(".env")]
        if NAME_RE.fullmatch(name) and name not in keep:
            names.append(name)
    return sorted(names)


def stale_containers(module, keep):
    """{instance name: container name} of labelled containers whose instance is not kept."""
    docker = module.get_bin_path("docker", required=True)
    rc, out, err = module.run_command([docker, "ps", "-a", "--filter", "label=" + LABEL,
                                       "--format", '{{.Names}}\t{{.Label "%s"}}' % LABEL])
    if rc != 0:
        module.fail_json(msg="docker ps failed: %s" % err.strip())
    found = {}
    for line in out.splitlines():
        container, _tab, name = line.partition("\t")
        if NAME_RE.fullmatch(name) and name not in keep:
            found[name] = container
    return found


def tls_files(config_dir, name):
    """The instance's TLS certificate, CA and key (vllm_service_tls_*), in either mode."""
    return [os.path.join(config_dir, name + ".tls.crt"), os.path.join(config_dir, name + ".tls-ca.pem"),
            os.path.join(config_dir, "secrets", name + ".tls.key")]


def remove_files(paths):
    for path in paths:
        if os.path.lexists(path):
            os.unlink(path)


def main():
    module = AnsibleModule(
        argument_spec={
            "mode": {"type": "str", "default": "systemd", "choices": ["systemd", "container"]},
            "keep": {"type": "list", "elements": "str", "required": True},
            "config_dir": {"type": "path", "default": "/etc/vllm"},
            "rollback_dir": {"type": "path", "default": "/etc/vllm/last-good"},
            "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
        },
        supports_check_mode=True,
    )
    p = module.params
    keep = set(p["keep"])
    if p["mode"] == "container":
        stale = stale_containers(module, keep)
        if stale and not module.check_mode:
            docker = module.get_bin_path("docker", required=True)
            for name, container in sorted(stale.items()):
                module.run_command([docker, "rm", "-f", container], check_rc=True)
                remove_files([os.path.join(d, name + ".container.json") for d in (p["config_dir"], p["rollback_dir"])]
                             + tls_files(p["config_dir"], name))
        module.exit_json(changed=bool(stale), removed=sorted(stale))

    stale = stale_units(p["config_dir"], keep)
    if stale and not module.check_mode:
        systemctl = module.get_bin_path("systemctl", required=True)
        for name in stale:
            unit = name + ".service"
            # An interrupted earlier removal may have left the env file without its unit: not an error.
            module.run_command([systemctl, "disable", "--now", unit], check_rc=False)
            remove_files([os.path.join(p["unit_dir"], unit), os.path.join(p["config_dir"], "secrets", name + ".env")]
                         + tls_files(p["config_dir"], name)
                         + [os.path.join(p["config_dir"], name + ".env"),
                            os.path.join(p["rollback_dir"], unit), os.path.join(p["rollback_dir"], name + ".env")])
        module.run_command([systemctl, "daemon-reload"], check_rc=True)
    module.exit_json(changed=bool(stale), removed=stale)


if __name__ == "__main__":
    main()
