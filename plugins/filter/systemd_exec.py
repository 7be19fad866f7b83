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
  specifier_words:
    description:
      - More arguments appended after O(_input), quoted the same way except that C(%) is kept, so systemd
        expands specifiers in them (such as C(%d), the credentials directory). Only for words the caller
        built itself, never for user input.
    type: list
    elements: str
    default: []
seealso:
  - plugin: llmops.vllm.systemd_env_value
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Render a unit line
  ansible.builtin.debug:
    msg: "ExecStart={{ ['/opt/venv/bin/vllm', 'serve', 'Qwen/Qwen2.5 1.5B'] | llmops.vllm.systemd_exec }}"
  # ExecStart="/opt/venv/bin/vllm" "serve" "Qwen/Qwen2.5 1.5B"

- name: With an argument that names a file in the unit's credentials directory
  ansible.builtin.debug:
    msg: "ExecStart={{ ['/opt/venv/bin/vllm', 'serve'] | llmops.vllm.systemd_exec(['--ssl-keyfile', '%d/tls.key']) }}"
  # ExecStart="/opt/venv/bin/vllm" "serve" "--ssl-keyfile" "%d/tls.key"
"""

RETURN = r"""
_value:
  description: The quoted command line.
  type: str
"""


def systemd_quote(word, specifiers=False):
    """One argv word as a systemd double-quoted word (systemd.syntax(7), systemd.service(5)); with
    specifiers, % is left for systemd to expand."""
    word = str(word)
    escaped = (
        word.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("$", "$$")  # environment variable substitution
    )
    if not specifiers:
        escaped = escaped.replace("%", "%%")  # specifier expansion
    return '"%s"' % escaped


def systemd_exec(argv, specifier_words=None):
    words = [systemd_quote(w) for w in argv] + [systemd_quote(w, specifiers=True) for w in specifier_words or []]
    return " ".join(words)


class FilterModule:
    def filters(self):
        return {"systemd_exec": systemd_exec}
