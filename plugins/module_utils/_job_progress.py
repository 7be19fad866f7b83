# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One line of progress for a long background job (model download, offline batch), from the JSON
progress file the job rewrites. Pure functions, used by the job_progress action plugin."""

from __future__ import annotations

from ansible.module_utils.common.text.formatters import bytes_to_human


def human_bytes(n):
    """As Ansible's human_readable filter writes it (24.00 MB), like the rest of the output."""
    return bytes_to_human(int(n or 0))


def _eta(state, active):
    eta = state.get("eta_s")
    if eta is None or state.get("state") != active:
        return ""
    return ", ETA %ds" % int(eta)


def describe_download(state):
    line = "%s %s/%s files, %s" % (
        state.get("state", "starting"), state.get("files_done", 0), state.get("files_total") or "?",
        human_bytes(state.get("bytes_done", 0)))
    total = state.get("bytes_total") or 0
    if total:
        line += " of %s (%.1f%%)" % (human_bytes(total), 100.0 * float(state.get("bytes_done") or 0) / float(total))
    line += ", %.1fs" % float(state.get("elapsed_s") or 0)
    if state.get("bytes_per_s"):
        line += ", %s/s" % human_bytes(state["bytes_per_s"])
    return line + _eta(state, "downloading")


def describe_batch(state):
    line = "%s %s/%s prompts, %s output tokens, %.1fs" % (
        state.get("state", "starting"), state.get("done", 0), state.get("total", "?"),
        state.get("output_tokens", 0), float(state.get("elapsed_s") or 0))
    if state.get("tokens_per_s"):
        line += ", %.1f tok/s" % float(state["tokens_per_s"])
    return line + _eta(state, "running")


DESCRIBE = {"download": describe_download, "batch": describe_batch}


def describe(kind, label, state):
    """'<label>: <what the progress file says>' (state {} = nothing written yet)."""
    return "%s: %s" % (label, DESCRIBE[kind](state or {}))


def next_wait(interval, waited):
    """Seconds to the next report: the interval at first, then at most 1/15 of the time waited, so a
    day-long job prints fewer than 150 lines."""
    return max(float(interval), float(waited) / 15.0)
