# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait until a service's HTTP health endpoint answers, watching the unit/container for crash loops.

Plain functions with injected I/O (command runner, HTTP getter, clock) so they are unit-testable.
"""

from __future__ import annotations

import json
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url


class ServiceFailed(Exception):
    """The service died or is crash-looping; ``logs`` holds its last log lines."""

    def __init__(self, message, state=None, logs=None):
        super().__init__(message)
        self.state = state or {}
        self.logs = logs or []


def parse_systemctl_show(text):
    """``systemctl show -p A,B`` output (``KEY=value`` lines) to a dict."""
    state = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            state[key.strip()] = value.strip()
    return state


def systemd_state(run, unit):
    rc, out, err = run(["systemctl", "show", unit, "-p", "LoadState,ActiveState,SubState,Result,NRestarts,ExecMainStatus"])
    if rc != 0:
        raise ServiceFailed("cannot read the state of %s: %s" % (unit, (err or out).strip()))
    raw = parse_systemctl_show(out)
    if raw.get("LoadState") == "not-found":
        raise ServiceFailed("unit %s does not exist" % unit, raw)
    return {
        "active": raw.get("ActiveState"),
        "sub": raw.get("SubState"),
        "result": raw.get("Result"),
        "exit_status": raw.get("ExecMainStatus"),
        "restarts": int(raw.get("NRestarts") or 0),
        # 'failed' is final; 'activating (auto-restart)' is a crash between restarts.
        "dead": raw.get("ActiveState") in ("failed", "inactive"),
    }


def systemd_logs(run, unit, lines):
    rc, out, err = run(["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat"])
    return (out if rc == 0 else err).splitlines()[-lines:]


def container_state(run, name):
    rc, out, err = run(["docker", "inspect", "--format", "{{json .State}}|{{.RestartCount}}", name])
    if rc != 0:
        raise ServiceFailed("cannot inspect container %s: %s" % (name, (err or out).strip()))
    raw, _sep, restarts = out.strip().rpartition("|")
    state = json.loads(raw)
    return {
        "active": state.get("Status"),
        "sub": "restarting" if state.get("Restarting") else state.get("Status"),
        "result": state.get("Error") or None,
        "exit_status": str(state.get("ExitCode")),
        "restarts": int(restarts or 0),
        "dead": state.get("Status") in ("exited", "dead"),
    }


def container_logs(run, name, lines):
    rc, out, err = run(["docker", "logs", "--tail", str(lines), name])
    return (out + err).splitlines()[-lines:]


def http_get_status(url, timeout, validate_certs=True, ca_path=None):
    """Return (status or None, short error text)."""
    try:
        with open_url(url, timeout=timeout, validate_certs=validate_certs, ca_path=ca_path) as resp:
            return resp.status, ""
    except HTTPError as exc:
        return exc.code, "HTTP %s" % exc.code
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, str(reason)


def wait_healthy(get_status, get_state, get_logs, timeout, interval=2.0, max_restarts=2,
                 clock=time.monotonic, sleep=time.sleep):
    """Poll until the health URL answers 200; fail early when the service dies or crash-loops."""
    start = clock()
    last_error = "not polled yet"
    # systemd's NRestarts survives a manual restart: count only the restarts seen while waiting.
    baseline = None
    while True:
        state = get_state()
        baseline = state["restarts"] if baseline is None else baseline
        if state["restarts"] - baseline > max_restarts:
            raise ServiceFailed(
                "crash loop: restarted %d times (more than %d) while waiting for health"
                % (state["restarts"] - baseline, max_restarts), state, get_logs())
        if state["dead"]:
            raise ServiceFailed(
                "service is %s (result %s, exit status %s) while waiting for health"
                % (state["active"], state["result"], state["exit_status"]), state, get_logs())
        status, error = get_status()
        elapsed = clock() - start
        if status == 200:
            return {"elapsed_s": round(elapsed, 1), "restarts": state["restarts"], "status": status, "state": state}
        last_error = error or ("HTTP %s" % status)
        if elapsed >= timeout:
            raise ServiceFailed(
                "not healthy after %ds (last answer: %s)" % (timeout, last_error), state, get_logs())
        sleep(interval)
