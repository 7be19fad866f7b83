# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Follow a background (async) job until it ends, showing the progress file it writes."""

from __future__ import annotations

import base64
import json
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.llmops.vllm.plugins.module_utils._job_progress import DESCRIBE, describe, next_wait

display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("jid", "progress_file", "label", "kind", "interval", "timeout", "cleanup"))

    def _module(self, name, args, task_vars):
        return self._execute_module(module_name=name, module_args=args, task_vars=task_vars)

    def _read_progress(self, path, task_vars):
        res = self._module("ansible.legacy.slurp", {"src": path}, task_vars)
        if res.get("failed") or "content" not in res:
            return None
        try:
            return json.loads(base64.b64decode(res["content"]).decode("utf-8"))
        except ValueError:
            return None

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = self._task.args
        for key in ("jid", "progress_file", "label", "kind"):
            if not args.get(key):
                raise AnsibleActionFail("job_progress: %s is required" % key)
        kind = args["kind"]
        if kind not in DESCRIBE:
            raise AnsibleActionFail("job_progress: kind must be one of %s" % ", ".join(sorted(DESCRIBE)))
        interval = float(args.get("interval", 5))
        timeout = float(args.get("timeout", 7200))
        if interval <= 0 or timeout <= 0:
            raise AnsibleActionFail("job_progress: interval and timeout must be positive")
        # As ansible.builtin.async_status does: the job's status lives in the shell's async_dir.
        status_args = {"jid": args["jid"], "mode": "status",
                       "_async_dir": self.get_shell_option("async_dir", default="~/.ansible_async")}
        host = task_vars.get("inventory_hostname", "?")
        started = time.monotonic()
        state, last_line = {}, None
        while True:
            status = self._module("ansible.legacy.async_status", status_args, task_vars)
            state = self._read_progress(args["progress_file"], task_vars) or state
            line = describe(kind, args["label"], state)
            if line != last_line:
                display.display("[%s] %s" % (host, line))
                last_line = line
            waited = time.monotonic() - started
            if status.get("finished") or "finished" not in status:
                break
            if waited > timeout:
                status = dict(status, failed=True, msg="Timeout exceeded (%ds)" % timeout)
                break
            time.sleep(min(next_wait(interval, waited), max(1.0, timeout - waited)))

        if status.get("finished") and args.get("cleanup", True):
            self._module("ansible.legacy.async_status", dict(status_args, mode="cleanup"), task_vars)
        for key in ("started", "finished", "ansible_job_id", "results_file", "invocation", "_ansible_parsed"):
            status.pop(key, None)
        result.update(status)
        result["progress"] = state
        result["waited_s"] = round(time.monotonic() - started, 1)
        # 'changed' is the job's own; a job that could not be asked about, or failed, fails this task.
        if "finished" not in status and not status.get("failed"):
            result.update(failed=True, msg=status.get("msg", "could not read the job's status"))
        return result
