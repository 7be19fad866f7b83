# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A digest of a role's input variables, so that work done for the same inputs is not done twice."""

from __future__ import annotations

DOCUMENTATION = r"""
name: role_inputs
short_description: A digest of every input variable of a role
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - Returns the SHA-256 of the templated values of every variable named C(<role>_<name>) (not the
    role-internal C(<role>__<name>) ones), sorted by name, as JSON.
  - The roles use it to skip work already done for the same inputs in the same play (their
    C(preflight) checks, which the playbooks run first) and to recognise an installation that was
    verified for the same inputs.
options:
  _terms:
    description: The role's variable prefix, for example V(vllm_cpu_build).
    type: list
    elements: str
    required: true
  exclude:
    description: Variables of that prefix that are outputs, not inputs (published facts).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Skip the checks done in pre_tasks for the same inputs
  ansible.builtin.include_tasks: preflight.yml
  when: vllm_cpu_build__checked | default('') != lookup('llmops.vllm.role_inputs', 'vllm_cpu_build', exclude=['vllm_cpu_build_isa'])
"""

RETURN = r"""
_raw:
  description: One hex SHA-256 digest per prefix.
  type: list
  elements: str
"""

import hashlib
import json
import re

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def digest(values):
    """SHA-256 of {name: value} as sorted JSON (values that are not JSON become their str())."""
    text = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        exclude = set(self.get_option("exclude"))
        variables = variables or {}
        out = []
        for prefix in terms:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", str(prefix)):
                raise AnsibleLookupError("role_inputs: %r is not a role variable prefix" % (prefix,))
            pattern = re.compile(r"%s_[a-z0-9]" % re.escape(prefix))
            names = sorted(n for n in variables if pattern.match(n) and n not in exclude)
            out.append(digest({n: self._value(variables[n]) for n in names}))
        return out

    def _value(self, raw):
        # A default that cannot be templated here (a fact not gathered, say) counts as its text.
        try:
            return self._templar.template(raw)
        except AnsibleError:
            return "<untemplated> %s" % (raw,)
