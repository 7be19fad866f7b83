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
  - Both modes are pruned whatever O(mode) is. In systemd mode every container the role labelled goes
    (none of them is listed any more), in container mode every unit with an env file. So a host switched
    from containers to units (or back) does not keep the old server running beside (or instead of) the
    new one. Without the other mode's tool (no C(docker) on a systemd host) there is none of its instances.
  - Only what the role created is touched; names come from the role's own env files and labels, and a
    name that is not a plain instance name is left alone.
  - Their state directories (model caches) are kept.
options:
  mode:
    description: What the listed instances run as; every instance of the other mode is removed.
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
  description: The instances removed (or that would be, in check mode), units and containers together.
  returned: always
  type: list
  elements: str
units:
  description: The instances whose unit was removed.
  returned: always
  type: list
  elements: str
containers:
  description: The instances whose container was removed.
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


def stale_containers(module, keep, required=True):
    """{instance name: container name} of labelled containers whose instance is not kept.

    ``required`` false (systemd mode, looking for an earlier container mode's instances): without the
    docker CLI there are none, and a failing ``docker ps`` is a warning instead of an error."""
    docker = module.get_bin_path("docker", required=required)
    if docker is None:
        return {}
    rc, out, err = module.run_command([docker, "ps", "-a", "--filter", "label=" + LABEL,
                                       "--format", '{{.Names}}\t{{.Label "%s"}}' % LABEL])
    if rc != 0:
        if required:
            module.fail_json(msg="docker ps failed: %s" % err.strip())
        module.warn("prune_instances: docker ps failed, containers of an earlier container mode (label %s) "
                    "were not looked for: %s" % (LABEL, err.strip()))
        return {}
    found = {}
    for line in out.splitlines():
        container, _tab, name = line.partition("\t")
        if NAME_RE.fullmatch(name) and name not in keep:
            found[name] = container
    return found


def tls_files(config_dir, name, keep):
    """The instance's TLS certificate, CA and key (vllm_service_tls_*), shared by both modes: kept while
    the instance is listed (in the other mode, after a switch)."""
    if name in keep:
        return []
    return [os.path.join(config_dir, name + ".tls.crt"), os.path.join(config_dir, name + ".tls-ca.pem"),
            os.path.join(config_dir, "secrets", name + ".tls.key")]


def remove_files(paths):
    for path in paths:
        if os.path.lexists(path):
            os.unlink(path)


def remove_containers(module, stale, config_dir, rollback_dir, keep):
    docker = module.get_bin_path("docker", required=True)
    for name, container in sorted(stale.items()):
        module.run_command([docker, "rm", "-f", container], check_rc=True)
        remove_files([os.path.join(d, name + ".container.json") for d in (config_dir, rollback_dir)]
                     + tls_files(config_dir, name, keep))


def remove_units(module, stale, config_dir, rollback_dir, unit_dir, keep):
    systemctl = module.get_bin_path("systemctl", required=True)
    for name in stale:
        unit = name + ".service"
        # An interrupted earlier removal may have left the env file without its unit: not an error.
        module.run_command([systemctl, "disable", "--now", unit], check_rc=False)
        remove_files([os.path.join(unit_dir, unit), os.path.join(config_dir, "secrets", name + ".env"),
                      os.path.join(config_dir, name + ".env")] + tls_files(config_dir, name, keep)
                     + [os.path.join(rollback_dir, unit), os.path.join(rollback_dir, name + ".env")])
    module.run_command([systemctl, "daemon-reload"], check_rc=True)


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
    # The listed instances are kept in their own mode only: the other mode keeps none.
    if p["mode"] == "container":
        containers, units = stale_containers(module, keep), stale_units(p["config_dir"], set())
    else:
        containers, units = stale_containers(module, set(), required=False), stale_units(p["config_dir"], keep)
    if not module.check_mode:
        if containers:
            remove_containers(module, containers, p["config_dir"], p["rollback_dir"], keep)
        if units:
            remove_units(module, units, p["config_dir"], p["rollback_dir"], p["unit_dir"], keep)
    removed = sorted(set(containers) | set(units))
    module.exit_json(changed=bool(removed), removed=removed, units=units, containers=sorted(containers))


if __name__ == "__main__":
    main()
