# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Ray cluster over an inventory group (role llmops.vllm.ray_cluster): each node's `ray start` and
what `ray status` says of the cluster.

The group's first host (or ray_cluster_head) runs the head (GCS on ray_cluster_port); every other
host joins it. Every node runs `ray start --block` under systemd, so a node whose Ray processes die is
restarted. Checked on the controller, before a host changes; errors name the variable.
"""

from __future__ import annotations

import re

from ansible_collections.llmops.vllm.plugins.module_utils._multinode import MultinodeError, host_address, host_port

PATH_RE = re.compile(r"/[A-Za-z0-9_./-]*")
# Ray's session directory holds Unix sockets (sockets/raylet, ...): their path must stay below 108 bytes.
MAX_TEMP_DIR = 52
# Ray makes its --temp-dir world-writable (0777) at every start: it lives in this subdirectory of
# ray_cluster_temp_dir, which is root:<ray group> 0750, so only Ray's user reaches it.
SESSION_SUBDIR = "session"


class RayClusterError(ValueError):
    """Bad cluster input; the message names the variable."""


def _int(value, variable, low, high=None):
    if isinstance(value, bool):
        raise RayClusterError("%s must be an integer, got %r" % (variable, value))
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RayClusterError("%s must be an integer, got %r" % (variable, value)) from None
    if number < low or (high is not None and number > high):
        raise RayClusterError("%s must be between %d and %s, got %r" % (variable, low, high or "any", value))
    return number


def plan(group, members, head, inventory_hostname, addresses, port, temp_dir, num_cpus=-1, num_gpus=-1,
         object_store_memory_mib=0):
    """This host's part in the cluster: {"role", "head", "nodes", "address", "head_address", "session_dir", "argv"}
    (argv: `ray start`'s arguments after the program)."""
    members = list(members or [])
    if not members:
        raise RayClusterError("ray_cluster_group %r is not an inventory group with hosts" % (group,))
    if inventory_hostname not in members:
        raise RayClusterError("ray_cluster_group %r: this host (%s) is not in it" % (group, inventory_hostname))
    head = head or members[0]
    if head not in members:
        raise RayClusterError("ray_cluster_head %r is not a host of the group %r (%s)" % (head, group, ", ".join(members)))
    port = _int(port, "ray_cluster_port", 1, 65535)
    temp_dir = str(temp_dir or "")
    if not PATH_RE.fullmatch(temp_dir) or ".." in temp_dir.split("/") or len(temp_dir) > MAX_TEMP_DIR:
        raise RayClusterError("ray_cluster_temp_dir must be an absolute path of at most %d characters without '..', "
                              "got %r" % (MAX_TEMP_DIR, temp_dir))
    try:
        own = host_address(addresses.get(inventory_hostname, ""), inventory_hostname, "ray_cluster_group")
        head_ip = host_address(addresses.get(head, ""), head, "ray_cluster_group")
    except MultinodeError as exc:
        raise RayClusterError(str(exc)) from exc
    head_address = host_port(head_ip, port)
    session = temp_dir.rstrip("/") + "/" + SESSION_SUBDIR
    argv = ["start", "--block", "--node-ip-address", own, "--temp-dir", session, "--disable-usage-stats"]
    if inventory_hostname == head:
        argv += ["--head", "--port", str(port), "--include-dashboard", "false"]
    else:
        argv += ["--address", head_address]
    for flag, value, variable in (("--num-cpus", num_cpus, "ray_cluster_num_cpus"),
                                  ("--num-gpus", num_gpus, "ray_cluster_num_gpus")):
        number = _int(value, variable, -1)
        if number >= 0:  # -1: Ray counts them
            argv += [flag, str(number)]
    memory = _int(object_store_memory_mib, "ray_cluster_object_store_memory_mib", 0)
    if memory:
        if memory < 76:  # Ray's minimum object store (75 MiB)
            raise RayClusterError("ray_cluster_object_store_memory_mib must be 0 (Ray decides) or at least 76, got %d"
                                  % memory)
        argv += ["--object-store-memory", str(memory * 1024 * 1024)]
    ordered = [head] + [m for m in members if m != head]
    return {"role": "head" if inventory_hostname == head else "worker", "head": head, "nodes": ordered,
            "address": own, "head_address": head_address, "session_dir": session, "argv": argv}


NODE_LINE = re.compile(r"^\s*(\d+)\s+node_[0-9a-f]+\s*$")
# The headings of `ray status` and what each section counts.
SECTIONS = {"active": "active", "pending": "pending", "recent failures": "failed", "usage": "usage",
            "total usage": "usage"}
USAGE_LINE = re.compile(r"^\s*([\d.]+)((?:[KMGT]i?)?B)?/([\d.]+)((?:[KMGT]i?)?B)?\s+(\S+)\s*$")


def parse_status(text):
    """What `ray status` prints: {"active": count of active nodes, "pending": ..., "failed": ...,
    "resources": {name: total}} (totals as printed: CPU/GPU counts, memory in the printed unit)."""
    out = {"active": 0, "pending": 0, "failed": 0, "resources": {}}
    section = None
    for line in (text or "").splitlines():
        stripped = line.strip()
        key = stripped.rstrip(":").lower()
        if key in SECTIONS:
            section = SECTIONS[key]
        elif section in ("active", "pending", "failed"):
            found = NODE_LINE.match(line)
            if found:
                out[section] += int(found.group(1))
        elif section == "usage":
            found = USAGE_LINE.match(line)
            if found:
                total = found.group(3) + (found.group(4) or "")
                out["resources"][found.group(5)] = total
    return out
