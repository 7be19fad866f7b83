# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: read the vllm_service role's variables and return its model of the instances."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.llmops.vllm.plugins.module_utils._instance_model import SETTINGS, ModelError, build


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("check_host",))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        settings = {}
        for key in SETTINGS:
            name = "vllm_service_" + key
            if name not in task_vars:
                raise AnsibleActionFail("%s is not defined (run this inside the vllm_service role)" % name)
            settings[key] = self._templar.template(task_vars[name])
        try:
            model = build(settings, task_vars.get("inventory_hostname", "localhost"),
                          task_vars.get("ansible_playbook_python", "python3"))
        except ModelError as err:
            result.update(failed=True, msg="vllm_service: %s" % err)
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
        result.update(changed=False, **model)
        # The model carries the secrets (they go into 0600 files): never shown, even with -v.
        result["_ansible_no_log"] = True
        return result
