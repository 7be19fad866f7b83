# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus file_sd targets of the fleet: every vLLM instance (the endpoints vllm_service published,
the same list the probe and the router use) and every router's metrics listener.

Shared by playbooks/prometheus_targets.yml (a file on the controller) and roles/prometheus (a real
Prometheus on a monitoring host); unit-tested in tests/unit/plugins/module_utils/test_prometheus_targets.py.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit


class TargetsError(ValueError):
    """A target that cannot be scraped as configured; the message names the variable to change."""


def _group(group_names, groups):
    return next((g for g in groups if g in (group_names or [])), "ungrouped")


def _hostport(address, port):
    return "[%s]:%d" % (address, port) if ":" in str(address) else "%s:%d" % (address, port)


def vllm_targets(hostvars, hosts, groups=("gpu_hosts", "cpu_hosts"), labels=None):
    """One entry per vLLM instance: targets [address:port], labels host/group/model/instance_name (+ labels).

    Per host, optional: prometheus_targets_address (the address to scrape instead, e.g. a published port's
    127.0.0.1) and prometheus_targets_port (only for a host with one instance). https endpoints keep their
    scheme (``__scheme__``)."""
    out = []
    for host in sorted(hosts):
        hv = hostvars[host]
        endpoints = hv.get("vllm_service_endpoints") or []
        for ep in endpoints:
            port = int(hv.get("prometheus_targets_port", ep["port"]) if len(endpoints) == 1 else ep["port"])
            address = hv.get("prometheus_targets_address", ep["address"])
            entry_labels = dict(labels or {})
            entry_labels.update({"host": host, "group": _group(hv.get("group_names"), groups),
                                 "model": str(ep.get("model")), "instance_name": ep["name"]})
            scheme = urlsplit(ep.get("url", "")).scheme
            if scheme == "https":
                entry_labels["__scheme__"] = "https"
            out.append({"targets": [_hostport(address, port)], "labels": entry_labels})
    return out


def _loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def router_targets(hostvars, routers, scraper, labels=None):
    """One entry per router host: its metrics listener (vllm_router_endpoint.metrics_url, published by the
    router role). A listener on loopback is scraped only from the router host itself (``scraper``)."""
    out = []
    for router in sorted(routers):
        endpoint = hostvars[router].get("vllm_router_endpoint")
        if not endpoint:
            raise TargetsError("router %s published no endpoint (vllm_router_endpoint): deploy the router first "
                               "(site.yml runs llmops.vllm.vllm_router before Prometheus)" % router)
        url = urlsplit(endpoint["metrics_url"])
        address = url.hostname
        if _loopback(address):
            if router != scraper:
                raise TargetsError("router %s serves its metrics on %s only, which %s cannot reach: set "
                                   "vllm_router_prometheus_host for %s to an address the monitoring host reaches, "
                                   "or run Prometheus on %s" % (router, address, scraper, router, router))
            address = "127.0.0.1"
        entry_labels = dict(labels or {})
        entry_labels.update({"host": router, "group": "vllm_routers"})
        out.append({"targets": [_hostport(address, url.port or 80)], "labels": entry_labels})
    return out


_DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")
_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):\d{1,5}")
_PATH = re.compile(r"/[A-Za-z0-9._/+-]*")


def check_settings(settings):
    """The values that land in /etc/default/prometheus (an environment file) and prometheus.yml: full-string
    patterns, so none can add a line, a quote or another flag. Returns the settings; raises naming the variable."""
    checks = (("listen_address", _LISTEN, "host:port, e.g. 127.0.0.1:9090"),
              ("scrape_interval", _DURATION, "a Prometheus duration, e.g. 15s"),
              ("retention_time", _DURATION, "a Prometheus duration, e.g. 15d"))
    for key, pattern, what in checks:
        value = settings.get(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise TargetsError("prometheus_%s must be %s, got %r" % (key, what, value))
    ca_file = settings.get("ca_file") or ""
    if ca_file and (not _PATH.fullmatch(ca_file) or "/../" in ca_file + "/"):
        raise TargetsError("prometheus_ca_file must be an absolute path on the monitoring host, got %r" % (ca_file,))
    return settings
