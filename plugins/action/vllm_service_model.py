# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: read the vllm_service role's variables and return its model of the instances."""

from __future__ import annotations

import base64
import os

import yaml
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.llmops.vllm.plugins.module_utils._instance_model import (
    SETTINGS, ModelError, build, credentials_mount_shared,
)
from ansible_collections.llmops.vllm.plugins.module_utils._multinode import inventory_address
from ansible_collections.llmops.vllm.plugins.module_utils._run_lock import BREAK_VAR, LOCK_PATH, describe, identity, take


# The role's argument spec: a setting with no line in defaults/main.yml takes its default from here, so a
# new instance key is one entry in INSTANCE_KEYS plus its argument-spec entry.
SPEC_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "roles", "vllm_service", "meta", "argument_specs.yml")


def spec_defaults(path=SPEC_FILE):
    """{setting: default} of the role's main entry point, settings named without the role prefix."""
    with open(path) as spec:
        options = yaml.safe_load(spec)["argument_specs"]["main"]["options"]
    return {name[len("vllm_service_"):]: option["default"] for name, option in options.items() if "default" in option}


def read_settings(task_vars, template, defaults=spec_defaults):
    """Every setting the model reads: the play's vllm_service_<key>, else the argument spec's default."""
    settings, spec = {}, None
    for key in SETTINGS:
        name = "vllm_service_" + key
        if name in task_vars:
            settings[key] = template(task_vars[name])
            continue
        spec = defaults() if spec is None else spec
        if key not in spec:
            raise AnsibleActionFail("%s is not defined (run this inside the vllm_service role)" % name)
        settings[key] = spec[key]
    return settings


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("check_host", "lock"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        settings = read_settings(task_vars, self._templar.template)
        try:
            model = build(settings, task_vars.get("inventory_hostname", "localhost"),
                          task_vars.get("ansible_playbook_python", "python3"), self._controller_file,
                          group_nodes=self._group_nodes(settings, task_vars))
        except ModelError as err:
            result.update(failed=True, msg="vllm_service: %s" % err)
            return result
        # A router to drain through must be a host of the inventory (the role delegates to it).
        unknown = [h for h in model["drain_routers"] if h not in task_vars.get("groups", {}).get("all", [])]
        if unknown:
            result.update(failed=True, msg="vllm_service: vllm_service_drain_routers names %s, not in the inventory "
                          "(the role takes an instance out of the router on each of these hosts before it restarts)"
                          % ", ".join(unknown))
            return result
        # The nodes of a multi-node instance start and wait for one another: they must run together.
        missing = self._nodes_outside_batch(model, task_vars)
        if missing and self._task.args.get("check_host", True):
            result.update(failed=True, msg="vllm_service: vllm_service_multinode_group %r: %s not in this batch of the "
                          "play, and the nodes of one instance start together (playbooks/cpu.yml: -e "
                          "vllm_rolling_serial=100%%; no --limit that splits the group)"
                          % (model["instances"][0]["multinode"]["group"], ", ".join(missing)))
            return result
        # A read on the host, before anything changes: a missing CA bundle would fail every hub
        # download later (and Docker would mount an empty directory in its place).
        if model["ca_bundle"] and self._task.args.get("check_host", True):
            found = self._execute_module(module_name="ansible.legacy.stat", task_vars=task_vars,
                                         module_args={"path": model["ca_bundle"], "get_checksum": False})
            if not found.get("stat", {}).get("isreg"):
                result.update(failed=True, msg="vllm_service: vllm_service_ca_bundle %s is not a file on %s"
                              % (model["ca_bundle"], task_vars.get("inventory_hostname", "the host")))
                return result
        # Reads on the host: systemd hands the TLS key to the unit as a credential, which needs a shared /run.
        tls = [i["name"] for i in model["instances"] if i["tls"] and i["mode"] == "systemd"]
        if tls and self._task.args.get("check_host", True):
            found = self._execute_module(module_name="ansible.legacy.slurp", task_vars=task_vars,
                                         module_args={"src": "/proc/self/mountinfo"})
            mountinfo = base64.b64decode(found.get("content", "")).decode("utf-8", "replace")
            if not found.get("failed") and not credentials_mount_shared(mountinfo):
                result.update(failed=True, msg=(
                    "vllm_service: vllm_service_tls_cert_src / vllm_service_tls_key_src (instance %s): in systemd mode "
                    "the unit hands vLLM the certificate and key as systemd credentials (LoadCredential=), which "
                    "needs /run with shared mount propagation; on %s it is private (systemd in a container?), so the "
                    "server would find no files. Make /run shared at boot (mount --make-rshared /run) or use "
                    "vllm_service_mode: container" % (", ".join(tls), task_vars.get("inventory_hostname", "the host"))))
                return result
        # One run at a time: take (or, later in the same run, renew) the host's lease, after every check
        # passed and before anything changes. Never reported as a change of the host.
        model["lock"] = {"held": False, "path": LOCK_PATH, "run_id": ""}
        if boolean(self._task.args.get("lock", False), strict=False) and self._task.args.get("check_host", True):
            host = task_vars.get("inventory_hostname", "the host")
            me = identity()
            taken, refused = take(
                lambda args: self._execute_module(module_name="llmops.vllm.run_lock", module_args=args,
                                                  task_vars=task_vars),
                me, model["lock_ttl"], force=model["lock_break"], host=host)
            if refused:
                result.update(failed=True, msg="vllm_service: %s" % refused)
                return result
            previous = taken.get("previous")
            if previous:
                why = {"expired": "its lease had expired",
                       "gone": "its ansible-playbook process on this controller is gone",
                       "broken": "%s=true" % BREAK_VAR}.get(taken.get("reason"), taken.get("reason"))
                result.setdefault("warnings", []).append(
                    "vllm_service: took over the run lock on %s from %s: %s" % (host, describe(previous), why))
            model["lock"] = {"held": not self._play_context.check_mode, "path": taken.get("path", LOCK_PATH),
                             "run_id": me["run_id"]}
        notes = model.pop("warnings")
        result.update(changed=False, **model)
        # Said where the role deploys (not where a later job only reads the endpoints).
        if notes and self._task.args.get("check_host", True):
            result.setdefault("warnings", []).extend(notes)
        # The model carries the secrets (they go into 0600 files): never shown, even with -v.
        result["_ansible_no_log"] = True
        return result

    @staticmethod
    def _nodes_outside_batch(model, task_vars):
        plans = [i["multinode"] for i in model["instances"] if i["multinode"]]
        batch = task_vars.get("ansible_play_batch")
        if not plans or batch is None:
            return []
        return [n for n in plans[0]["nodes"] if n not in batch]

    def _group_nodes(self, settings, task_vars):
        """The hosts of a multi-node instance's group and the address each is reached at (its
        vllm_service_advertise_address, else ansible_host, else its name), from the inventory."""
        group = str(settings.get("multinode_group") or "").strip()
        if not group:
            return None
        members = list(task_vars.get("groups", {}).get(group, []))
        hostvars = task_vars.get("hostvars", {})
        addresses = {}
        for host in members:
            own = hostvars.get(host, {}) if hasattr(hostvars, "get") else {}
            addresses[host] = str(self._templar.template(inventory_address(own, host)))
        return {"members": members, "addresses": addresses}

    def _controller_file(self, path):
        """A file on the controller (the TLS files), found the way copy's src is: an absolute path or one
        relative to the role's or the playbook's files/ directories; None when there is none."""
        try:
            found = self._find_needle("files", os.path.expanduser(path))
        except AnsibleError:
            return None
        return found if os.path.isfile(found) else None
