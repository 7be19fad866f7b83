# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The servers' host firewall: only the allowed clients (the routers, Prometheus, ...) reach the
instances' ports. Pure Python: the client list is checked here (instance model) and the nftables
ruleset is written here (filter vllm_firewall_ruleset) from the addresses the host resolved.

The ruleset is one table of its own (``inet llmops_vllm``), replaced atomically (``nft -f``: create,
delete, define in one transaction), so a host's other rules (its nftables.conf, Docker's) stay as they
are. Loopback always passes: the role's own health wait asks on the host.
"""

from __future__ import annotations

import ipaddress
import re

TABLE = "llmops_vllm"
# A host name as the host resolves it (getent ahosts): DNS labels, no spaces, quotes or braces.
NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")


class FirewallError(ValueError):
    """Bad input; the message names the variable."""


def _network(text):
    """An IPv4/IPv6 address or network (CIDR), else None."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def check_clients(value, where="vllm_service_allowed_clients"):
    """The allowed clients as given: host names (resolved on the host), addresses or CIDR networks."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise FirewallError("%s must be a list of host names, addresses or networks, got %r" % (where, value))
    clients = []
    for entry in value:
        text = str(entry).strip() if isinstance(entry, (str, int)) and not isinstance(entry, bool) else None
        if not text or not (_network(text) or NAME_RE.fullmatch(text)):
            raise FirewallError("%s: %r is not a host name, an IP address or a network (CIDR)" % (where, entry))
        if text not in clients:
            clients.append(text)
    return clients


def names(clients):
    """The clients the host must resolve (everything that is not an address or network)."""
    return [c for c in clients if not _network(c)]


def parse_getent(output):
    """The addresses in `getent ahosts NAME` output (one address per line, then its socket type)."""
    found = []
    for line in (output or "").splitlines():
        word = line.split()[0] if line.split() else ""
        if _network(word) and "/" not in word and word not in found:
            found.append(word)
    return found


def ruleset(ports, clients, resolved):
    """nftables ruleset text: `ports` (TCP) reachable from loopback and `clients` only.

    resolved: {name: [addresses]} for every client that is a name (getent on the host); a name that
    resolved to nothing is an error (the client would be locked out without a word).
    """
    v4, v6 = [], []
    for client in clients:
        net = _network(client)
        if net is not None:
            nets = [net]
        else:
            addresses = resolved.get(client) or []
            if not addresses:
                raise FirewallError("vllm_service_allowed_clients: %s does not resolve on this host (getent ahosts "
                                    "%s found no address); give its address instead" % (client, client))
            nets = [ipaddress.ip_network(a, strict=False) for a in addresses]
        for n in nets:
            target = v4 if n.version == 4 else v6
            if str(n) not in target:
                target.append(str(n))
    ports = sorted({int(p) for p in ports})
    if not ports:
        raise FirewallError("vllm_service_allowed_clients: no instance ports to protect")
    lines = [
        "# Managed by llmops.vllm.vllm_service: the vLLM instances' ports, reachable only from",
        "# loopback and vllm_service_allowed_clients. Replaces its own table only.",
        "table inet %s" % TABLE,
        "delete table inet %s" % TABLE,
        "table inet %s {" % TABLE,
    ]
    for family, kind, nets in (("v4", "ipv4_addr", v4), ("v6", "ipv6_addr", v6)):
        lines += ["    set clients_%s {" % family, "        type %s" % kind, "        flags interval"]
        if nets:
            lines.append("        elements = { %s }" % ", ".join(nets))
        lines.append("    }")
    lines += [
        "    chain input {",
        "        type filter hook input priority filter - 10; policy accept;",
        "        tcp dport { %s } jump servers" % ", ".join(str(p) for p in ports),
        "    }",
        "    chain servers {",
        '        iifname "lo" accept',
        "        ip saddr @clients_v4 accept",
        "        ip6 saddr @clients_v6 accept",
        "        counter reject with tcp reset",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"
