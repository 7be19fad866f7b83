# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter systemd_exec: an argv list as a systemd ExecStart= command line (one file per filter, so
ansible-doc and Galaxy show each filter's own documentation)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: systemd_exec
short_description: Quote an argv list for a systemd C(ExecStart=) line
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - Joins the list into one command line where every word is double-quoted for systemd, so spaces,
    quotes, C($) and C(%) in model names or extra arguments reach the program unchanged.
positional: _input
options:
  _input:
    description: The command and its arguments.
    type: list
    elements: str
    required: true
seealso:
  - plugin: llmops.vllm.systemd_env_value
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Render a unit line
  ansible.builtin.debug:
    msg: "ExecStart={{ ['/opt/venv/bin/vllm', 'serve', 'Qwen/Qwen2.5 1.5B'] | llmops.vllm.systemd_exec }}"
  # ExecStart="/opt/venv/bin/vllm" "serve" "Qwen/Qwen2.5 1.5B"
"""

RETURN = r"""
_value:
  description: The quoted command line.
  type: str
"""


def systemd_quote(word):
    """One argv word as a systemd double-quoted word (systemd.syntax(7), systemd.service(5))."""
    word = str(word)
    escaped = (
        word.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("%", "%%")  # specifier expansion
        .replace("$", "$$")  # environment variable substitution
    )
    return '"%s"' % escaped


def systemd_exec(argv):
    return " ".join(systemd_quote(w) for w in argv)


class FilterModule:
    def filters(self):
        return {"systemd_exec": systemd_exec}
