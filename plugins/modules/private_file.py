#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: private_file
short_description: Write a secret-bearing file and say only whether it changed
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - Writes O(content) to O(dest) (a temporary file in the same directory, then a rename), with the
    given owner, group and mode.
  - Unlike M(ansible.builtin.copy) and M(ansible.builtin.template), the result holds no checksum,
    size, diff or content of the file (a checksum of a short secret is as good as the secret to
    anyone who can guess candidates), only C(changed).
  - A link at O(dest) is refused, not followed.
options:
  dest:
    description: The file to write (absolute path).
    type: path
    required: true
  content:
    description: What the file must hold (never logged).
    type: str
    required: true
  owner:
    description: Owner of the file (a name).
    type: str
    default: root
  group:
    description: Group of the file (a name).
    type: str
    default: root
  mode:
    description: Mode of the file (octal string).
    type: str
    default: "0600"
notes:
  - Check mode is supported; it reports whether the file would change without writing.
  - Use C(no_log) on the task too, so that the task's arguments stay out of verbose output.
"""

EXAMPLES = r"""
- name: Write the instance's secrets
  llmops.vllm.private_file:
    dest: /etc/vllm/vllm.secrets.env
    content: "VLLM_API_KEY=\"{{ api_key }}\"\n"
  no_log: true
  register: secrets_written
"""

RETURN = r"""
changed:
  description: The file's content, owner, group or mode was (or, in check mode, would be) changed.
  returned: always
  type: bool
"""

import grp
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def current_state(path):
    """(bytes, uid, gid, mode) of the regular file at path, None when absent; ValueError for anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("%s exists and is not a regular file (a link or a directory): refusing to write it" % path)
    with open(path, "rb") as handle:
        return handle.read(), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def write(path, data, uid, gid, mode):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix="." + os.path.basename(path) + ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if os.geteuid() == 0:
            os.chown(tmp, uid, gid)
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "content": {"type": "str", "required": True, "no_log": True},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "mode": {"type": "str", "default": "0600"},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        mode = int(p["mode"], 8)
        uid = pwd.getpwnam(p["owner"]).pw_uid
        gid = grp.getgrnam(p["group"]).gr_gid
    except (ValueError, KeyError) as exc:
        module.fail_json(msg="private_file %s: bad owner, group or mode: %s" % (p["dest"], exc))
    data = p["content"].encode("utf-8")
    try:
        state = current_state(p["dest"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    changed = state != (data, uid, gid, mode)
    if changed and not module.check_mode:
        write(p["dest"], data, uid, gid, mode)
    module.exit_json(changed=changed)


if __name__ == "__main__":
    main()
