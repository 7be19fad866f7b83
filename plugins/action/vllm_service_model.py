# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: read the vllm_service role's variables and return its model of the instances."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.llmops.vllm.plugins.module_utils._instance_model import SETTINGS, ModelError, build


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset()

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
        result.update(changed=False, **model)
        # The model carries the secrets (they go into 0600 files): never shown, even with -v.
        result["_ansible_no_log"] = True
        return result
