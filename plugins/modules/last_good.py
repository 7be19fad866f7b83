#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: last_good
short_description: Compare, keep or restore the last configuration of a server that answered
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - A server's configuration is a set of files (a unit and its environment file, or a container
    spec). After the server answered, C(state=saved) keeps a copy of them; C(state=compared) says
    whether the files on disk are that copy; C(state=restored) puts the copy back.
  - Copies are written to temporary files first and then renamed, so an interrupted run leaves
    either the old or the new set, never a half-written file.
  - The files may hold secrets, so no content, checksum or diff is ever returned.
options:
  files:
    description: The configuration's files.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: The file in use.
        type: path
        required: true
      good:
        description: Where its last good copy is kept (a root-only directory).
        type: path
        required: true
      mode:
        description: Mode of the written file (octal string).
        type: str
        default: "0600"
  state:
    description: C(compared) only reads; C(saved) copies I(path) to I(good); C(restored) copies I(good) to I(path).
    type: str
    choices: [compared, saved, restored]
    default: compared
notes:
  - Check mode is supported; it reports what would be kept or restored without writing.
"""

EXAMPLES = r"""
- name: Is the configuration on disk the last good one?
  llmops.vllm.last_good:
    files:
      - {path: /etc/systemd/system/vllm.service, good: /etc/vllm/last-good/vllm.service, mode: "0644"}
      - {path: /etc/vllm/vllm.env, good: /etc/vllm/last-good/vllm.env, mode: "0600"}
  register: last_good

- name: Restart when it is not
  ansible.builtin.debug:
    msg: "restart needed"
  when: last_good.differs
"""

RETURN = r"""
has_good:
  description: Every file has a last good copy.
  returned: always
  type: bool
complete:
  description: Every file in use exists.
  returned: always
  type: bool
differs:
  description: Some file in use is missing or is not its last good copy.
  returned: always
  type: bool
good_summary:
  description: What the last good configuration runs (the unit's ExecStart or the container's image), without secrets.
  returned: when has_good
  type: str
"""

import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _summary(files, contents):
    for spec, data in zip(files, contents):
        if data is None:
            continue
        text = data.decode("utf-8", "replace")
        if spec["good"].endswith(".service"):
            match = re.search(r"^ExecStart=(.*)$", text, re.MULTILINE)
            if match:
                return match.group(1).replace('"', "")
        if spec["good"].endswith(".json"):
            try:
                return "image " + str(json.loads(text)["spec"]["image"])
            except (ValueError, KeyError, TypeError):
                pass
    return ""


def _write_all(pairs):
    """pairs: [(dest, bytes, mode)]: every temp file is written before any rename."""
    staged = []
    try:
        for dest, data, mode in pairs:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix="." + os.path.basename(dest) + ".")
            staged.append((tmp, dest))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, int(mode, 8))
            if os.geteuid() == 0:
                os.chown(tmp, 0, 0)
        for tmp, dest in staged:
            os.rename(tmp, dest)
    finally:
        for tmp, _dest in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True, "options": {
                "path": {"type": "path", "required": True},
                "good": {"type": "path", "required": True},
                "mode": {"type": "str", "default": "0600"},
            }},
            "state": {"type": "str", "default": "compared", "choices": ["compared", "saved", "restored"]},
        },
        supports_check_mode=True,
    )
    files = module.params["files"]
    current = [_read(f["path"]) for f in files]
    good = [_read(f["good"]) for f in files]
    has_good = all(g is not None for g in good)
    complete = all(c is not None for c in current)
    differs = not complete or not has_good or current != good
    result = {"changed": False, "has_good": has_good, "complete": complete, "differs": differs}
    if has_good:
        result["good_summary"] = _summary(files, good)

    state = module.params["state"]
    if state == "saved":
        if not complete:
            module.fail_json(msg="cannot keep an incomplete configuration: %s missing"
                             % ", ".join(f["path"] for f, c in zip(files, current) if c is None), **result)
        if differs:
            result["changed"] = True
            if not module.check_mode:
                _write_all([(f["good"], c, f["mode"]) for f, c in zip(files, current)])
    elif state == "restored":
        if not has_good:
            module.fail_json(msg="no last good configuration to restore", **result)
        if differs:
            result["changed"] = True
            if not module.check_mode:
                _write_all([(f["path"], g, f["mode"]) for f, g in zip(files, good)])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
