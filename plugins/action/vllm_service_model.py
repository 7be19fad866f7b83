# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side: read the vllm_service role's variables and return its model of the instances."""

from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.llmops.vllm.plugins.module_utils._instance_model import SETTINGS, ModelError, build


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
    _VALID_ARGS = frozenset(("check_host",))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        settings = read_settings(task_vars, self._templar.template)
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
        notes = model.pop("warnings")
        result.update(changed=False, **model)
        # Said where the role deploys (not where a later job only reads the endpoints).
        if notes and self._task.args.get("check_host", True):
            result["warnings"] = notes
        # The model carries the secrets (they go into 0600 files): never shown, even with -v.
        result["_ansible_no_log"] = True
        return result
