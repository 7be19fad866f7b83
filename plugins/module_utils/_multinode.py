# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One vLLM server across several hosts (vLLM's own multiprocessing launcher, no Ray).

An inventory group is one instance: its first host (or vllm_service_multinode_head) is the head
(node rank 0, the only API server), every other host a headless worker with the next rank. Every node
runs the same `vllm serve` with the same parallel sizes, master address and port; vLLM 0.32 checks
that the world size (TP x PP) divides by the node count (engine/arg_utils.py) and starts
world / nodes workers per node. On CPU one worker per node is what works (its reply queues count one
device per host), so the sizes must give exactly one; on GPU as many as the node's GPUs.

Everything here is checked on the controller before a host changes; errors name the variable.
"""

from __future__ import annotations

import ipaddress
import re

# Flags the multi-node settings own: in vllm_service_extra_args they would contradict them.
MULTINODE_ARGS = {
    "--tensor-parallel-size": "vllm_service_tensor_parallel_size", "-tp": "vllm_service_tensor_parallel_size",
    "--pipeline-parallel-size": "vllm_service_pipeline_parallel_size", "-pp": "vllm_service_pipeline_parallel_size",
    "--nnodes": "vllm_service_multinode_group", "-n": "vllm_service_multinode_group",
    "--node-rank": "vllm_service_multinode_group", "-r": "vllm_service_multinode_group",
    "--master-addr": "vllm_service_multinode_head", "--master-port": "vllm_service_multinode_port",
    "--headless": "vllm_service_multinode_group",
}
IFNAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,15}")
HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")


class MultinodeError(ValueError):
    """Bad multi-node input; the message names the variable."""


def host_address(value, host, variable="vllm_service_multinode_group"):
    """A node's address as the others reach it: an IP address or a host name, nothing else."""
    value = str(value).strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        if HOSTNAME_RE.fullmatch(value) and ".." not in value:
            return value
    raise MultinodeError("%s: host %s has no usable address (%r): set its advertise address or ansible_host"
                         % (variable, host, value))


def inventory_address(host_vars, host, names=("vllm_service_advertise_address", "ansible_host")):
    """The address a host is reached at, as its inventory gives it: the first of `names` it sets, else
    its inventory name (checked by host_address)."""
    for name in names:
        value = host_vars.get(name) if hasattr(host_vars, "get") else None
        if value:
            return value
    return host


def host_port(address, port):
    """address:port, an IPv6 address in brackets."""
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def _positive(value, variable):
    if isinstance(value, bool):
        raise MultinodeError("%s must be a positive integer, got %r" % (variable, value))
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise MultinodeError("%s must be a positive integer, got %r" % (variable, value))
    return number


def devices_per_node(device, cuda_visible_devices, gpu_count):
    """How many workers a node runs: its GPUs (the instance's cuda_visible_devices, else
    vllm_service_gpu_count); one on CPU."""
    if device != "gpu":
        return 1
    if cuda_visible_devices:
        return len(cuda_visible_devices)
    if gpu_count and gpu_count > 0:
        return gpu_count
    raise MultinodeError("vllm_service_multinode_group on GPU hosts needs the GPUs of each node: set "
                         "vllm_service_cuda_visible_devices or vllm_service_gpu_count")


def plan(group, members, head, inventory_hostname, addresses, tensor_parallel_size, pipeline_parallel_size,
         port, interface, device, cuda_visible_devices=(), gpu_count=-1, extra_args=()):
    """This host's part in a multi-node instance, or None when `group` is empty.

    members: the group's hosts in inventory order; addresses: {host: address the others reach it at}.
    Returns {"role": "head"|"worker", "rank", "nnodes", "head", "master_addr", "master_port",
    "world_size", "local_world_size", "args" (vLLM flags after the role's own), "env"}.
    """
    if not group:
        return None
    members = list(members or [])
    if len(members) < 2:
        raise MultinodeError("vllm_service_multinode_group %r must name an inventory group of two or more hosts, "
                             "it has %d" % (group, len(members)))
    if inventory_hostname not in members:
        raise MultinodeError("vllm_service_multinode_group %r: this host (%s) is not in it"
                             % (group, inventory_hostname))
    head = head or members[0]
    if head not in members:
        raise MultinodeError("vllm_service_multinode_head %r is not a host of the group %r (%s)"
                             % (head, group, ", ".join(members)))
    for arg in extra_args:
        flag = str(arg).split("=", 1)[0]
        if flag in MULTINODE_ARGS:
            raise MultinodeError("vllm_service_extra_args: %s is set from %s in a multi-node instance"
                                 % (flag, MULTINODE_ARGS[flag]))
    tp = _positive(tensor_parallel_size, "vllm_service_tensor_parallel_size")
    pp = _positive(pipeline_parallel_size, "vllm_service_pipeline_parallel_size")
    port = _positive(port, "vllm_service_multinode_port")
    if port > 65534:  # the next port is the nodes' liveness port
        raise MultinodeError("vllm_service_multinode_port must be a port number below 65535, got %r" % port)
    interface = str(interface or "").strip()
    if interface and not IFNAME_RE.fullmatch(interface):
        raise MultinodeError("vllm_service_multinode_interface must be a network interface name, got %r" % interface)
    nnodes = len(members)
    world = tp * pp
    local = devices_per_node(device, cuda_visible_devices, gpu_count)
    if world != nnodes * local:
        raise MultinodeError(
            "vllm_service_tensor_parallel_size x vllm_service_pipeline_parallel_size (%d x %d = %d) must equal the "
            "workers of the group %r: %d nodes x %d %s = %d" % (
                tp, pp, world, group, nnodes, local, "GPUs" if device == "gpu" else "worker per CPU node",
                nnodes * local))
    ordered = [head] + [m for m in members if m != head]
    rank = ordered.index(inventory_hostname)
    where = {m: host_address(addresses.get(m, ""), m) for m in ordered}
    master, own = where[head], where[inventory_hostname]
    args = ["--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp), "--nnodes", str(nnodes),
            "--node-rank", str(rank), "--master-addr", master, "--master-port", str(port)]
    if rank:
        args.append("--headless")
    # The launcher (roles/vllm_service/files/vllm_node.py): every node answers on the liveness port;
    # a worker follows the head, the head watches the workers, so that one's end restarts the others.
    live = port + 1
    launcher = ["--listen", str(live)]
    if rank:
        launcher += ["--follow", host_port(master, live)]
    else:
        launcher += ["--watch", ",".join(host_port(where[m], live) for m in ordered[1:])]
    # VLLM_HOST_IP: the address the other nodes reach this one at (else vLLM guesses from a route to
    # the internet); the socket interface for gloo (CPU) / NCCL (GPU), else they may pick 127.0.1.1.
    env = {"VLLM_HOST_IP": own}
    if interface:
        env["GLOO_SOCKET_IFNAME"] = interface
        if device == "gpu":
            env["NCCL_SOCKET_IFNAME"] = interface
    return {"group": group, "role": "worker" if rank else "head", "rank": rank, "nnodes": nnodes, "head": head,
            "nodes": ordered, "master_addr": master, "master_port": port, "world_size": world,
            "local_world_size": local, "args": args, "env": env, "live_port": live, "launcher_args": launcher,
            "addresses": [where[m] for m in ordered]}
