# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalise and validate the vllm_service role's list of server instances."""

from __future__ import annotations

import posixpath
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: vllm_service_instances
short_description: The complete, validated list of vLLM server instances of one host
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - Takes the role variable C(vllm_service_instances) and the role-level settings, and returns one
    complete dictionary per instance, where keys an instance leaves out come from the role-level settings.
  - An empty list means one instance made of the role-level settings alone.
  - In a list, each instance needs C(name) and C(port); its state directory defaults to a sibling of
    the role-level one (C(/var/lib/<name>)) and its container name to its name.
  - Fails, naming the instance and key, on unknown keys, duplicate names or ports, bad ports, names
    that are not valid unit names, and CPU lists systemd cannot read.
positional: _input, defaults
options:
  _input:
    description: The instances (C(vllm_service_instances)).
    type: list
    elements: dict
    required: true
  defaults:
    description: The role-level settings, one key per instance key.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Resolve the instances
  ansible.builtin.set_fact:
    instances: "{{ vllm_service_instances | llmops.vllm.vllm_service_instances({'name': 'vllm', 'port': 8000}) }}"
"""

RETURN = r"""
_value:
  description: One dictionary per instance with every key of O(defaults).
  type: list
  elements: dict
"""

# Keys an instance may set; each mirrors a vllm_service_<key> role variable.
INSTANCE_KEYS = (
    "name", "port", "host", "model", "model_src", "served_model_name", "extra_args",
    "cuda_visible_devices", "cpus", "cpu_kvcache_space_gib", "environment", "state_dir",
    "container_name",
)
# Derived from the name unless the instance sets them.
PER_NAME_KEYS = ("state_dir", "container_name")
NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")
CPUS_RE = re.compile(r"^\d+(-\d+)?([,|]\d+(-\d+)?)*$")


def _fail(where, msg):
    raise AnsibleFilterError("vllm_service_instances%s: %s" % (where, msg))


def _check(instance, where):
    """where: '' for the single role-level instance (errors name vllm_service_<key>), else '[i] (name)'."""
    def bad(key, msg):
        if where:
            _fail(where, "%s %s" % (key, msg))
        raise AnsibleFilterError("vllm_service_%s %s" % (key, msg))

    name = instance["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        bad("name", "must be a valid unit name ([A-Za-z0-9_.@-]+), got %r" % (name,))
    try:
        port = int(instance["port"])
    except (TypeError, ValueError):
        bad("port", "must be a number, got %r" % (instance["port"],))
    if not 1 <= port <= 65535:
        bad("port", "must be 1-65535, got %s" % port)
    instance["port"] = port
    for key in ("extra_args", "cuda_visible_devices"):
        if not isinstance(instance[key], (list, tuple)):
            bad(key, "must be a list, got %r" % (instance[key],))
    if not isinstance(instance["environment"], dict):
        bad("environment", "must be a dictionary")
    cpus = str(instance["cpus"] or "")
    if cpus and not CPUS_RE.match(cpus):
        bad("cpus", "must be CPU ids and ranges like '0-3' or '0,2,4', got %r" % cpus)
    if not str(instance["model"] or "").strip() and not instance["model_src"]:
        bad("model", "(or model_src) must name a model")
    return instance


def vllm_service_instances(instances, defaults):
    missing = [k for k in INSTANCE_KEYS if k not in defaults]
    if missing:
        raise AnsibleFilterError("vllm_service_instances: defaults lack %s" % ", ".join(missing))
    if not instances:
        return [_check(dict(defaults), "")]
    if not isinstance(instances, (list, tuple)):
        _fail("", "must be a list of dictionaries")

    result = []
    for index, entry in enumerate(instances):
        where = "[%d]" % index
        if not isinstance(entry, dict):
            _fail(where, "must be a dictionary, got %r" % (entry,))
        if "name" in entry:
            where = "[%d] (%s)" % (index, entry["name"])
        unknown = sorted(set(entry) - set(INSTANCE_KEYS))
        if unknown:
            _fail(where, "unknown key(s) %s; allowed: %s" % (", ".join(unknown), ", ".join(INSTANCE_KEYS)))
        for key in ("name", "port"):
            if key not in entry:
                _fail(where, "%s is required" % key)
        instance = {k: v for k, v in defaults.items() if k not in PER_NAME_KEYS}
        instance["state_dir"] = posixpath.join(posixpath.dirname(str(defaults["state_dir"]).rstrip("/")), entry["name"])
        instance["container_name"] = entry["name"]
        instance.update(entry)
        result.append(_check(instance, where))

    for key in ("name", "port", "container_name", "state_dir"):
        seen = {}
        for index, instance in enumerate(result):
            value = instance[key]
            if value in seen:
                _fail("[%d] (%s)" % (index, instance["name"]),
                      "%s %s is already used by instance [%d]" % (key, value, seen[value]))
            seen[value] = index
    return result


class FilterModule:
    def filters(self):
        return {"vllm_service_instances": vllm_service_instances}
