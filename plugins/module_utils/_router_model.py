# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vllm_router role's model of its front door: backends, the router's argv and the door's keys.

Pure Python (no Ansible imports), unit-tested table-driven. The filter ``vllm_router_config`` feeds
it the role's variables and the endpoints vllm_service published for every server host; tasks and
templates only read its result. Every value that reaches the unit or nginx's configuration is
checked here (keys and URLs by a strict pattern), so the templates add no unchecked interpolation.
"""

from __future__ import annotations

import re

# vllm-router 0.1.17's --policy choices for a regular (not prefill/decode) fleet; kv_aware needs KV
# event sources from the servers, which vllm_service does not configure.
POLICIES = ("random", "round_robin", "cache_aware", "power_of_two", "consistent_hash", "sticky_least_loaded")
# What may appear in "Bearer <key>" inside nginx's configuration: no quotes, spaces, ; or $.
KEY_RE = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")
URL_RE = re.compile(r"http://[A-Za-z0-9.-]+:[0-9]{1,5}|http://\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}")
HOST_RE = re.compile(r"[A-Za-z0-9.:-]+")
# (setting, minimum) of the router's integer options; each is vllm_router_<setting>.
INT_SETTINGS = (
    ("port", 1), ("door_port", 1), ("prometheus_port", 1),
    ("health_check_interval_secs", 1), ("health_check_timeout_secs", 1),
    ("health_failure_threshold", 1), ("health_success_threshold", 1),
    ("retry_max_retries", 1), ("request_timeout_secs", 1), ("worker_startup_timeout_secs", 1),
    ("cb_failure_threshold", 1), ("cb_timeout_duration_secs", 1),
)


# vllm-router 0.1.17 has no option for a CA to verify its workers with, and this role gives it none:
# backends over TLS are refused rather than half-working (see the role's README).
_TLS_BACKEND = ("vllm_router: %s, but this role connects the router to its backends in plain http only "
                "(vllm-router 0.1.17 has no option for a CA to verify them with). Serve the backends without TLS on a network you trust "
                "or on loopback (leave vllm_service_tls_cert_src / _key_src unset for the hosts of "
                "vllm_router_backend_hosts); the door (nginx) terminates TLS for the clients")


class RouterError(ValueError):
    """Bad input, with a message naming the variable."""


# The role's defaults for where the router listens (roles/vllm_router/defaults/main.yml; a unit test
# keeps them equal): other roles find a router host's router by them when its inventory sets none.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 30000


def admin_url(host, port):
    """The router's own URL as its host reaches it (loopback when it listens on every address)."""
    host = str(host)
    if not HOST_RE.fullmatch(host):
        raise RouterError("vllm_router_host must be an IP address or host name, got %r" % host)
    port = _int({"port": port}, "port", 1)
    return "http://%s:%d" % ("127.0.0.1" if host in ("0.0.0.0", "127.0.0.1", "::") else host, port)


# The door's default port (roles/vllm_router/defaults/main.yml; the same unit test keeps it equal).
DEFAULT_DOOR_PORT = 8443


def door_target(host_vars):
    """The door of a router host as a client reaches it: on that host's loopback (url) and from elsewhere
    (public_url, at vllm_router_advertise_address, else ansible_host, else the inventory name), with the
    first client key. From the host's inventory variables, so it needs no run of the role."""
    port = _int({"door_port": host_vars.get("vllm_router_door_port", DEFAULT_DOOR_PORT)}, "door_port", 1)
    address = str(host_vars.get("vllm_router_advertise_address") or host_vars.get("ansible_host")
                  or host_vars.get("inventory_hostname") or "")
    if not HOST_RE.fullmatch(address):
        raise RouterError("vllm_router_advertise_address must be an IP address or host name, got %r" % address)
    key = client_keys(host_vars.get("vllm_router_api_keys"))[0]
    public = "[%s]" % address if ":" in address else address
    return {"name": "door", "url": "https://127.0.0.1:%d" % port, "public_url": "https://%s:%d" % (public, port),
            "key": key}


def client_keys(keys):
    """vllm_router_api_keys, checked: a non-empty list of keys nginx's configuration can hold."""
    if isinstance(keys, str) or not isinstance(keys, list) or not keys:
        raise RouterError("vllm_router_api_keys must be a non-empty list of client API keys (every route of the "
                          "door needs one)")
    for i, key in enumerate(keys):
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise RouterError("vllm_router_api_keys[%d] must be 16-256 characters of A-Z a-z 0-9 . _ ~ + / = -" % i)
    return list(keys)


def _int(settings, name, minimum):
    value = settings.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            raise RouterError("vllm_router_%s must be an integer, got %r" % (name, settings.get(name)))
    if value < minimum or (name.endswith("port") and value > 65535):
        raise RouterError("vllm_router_%s must be %s, got %r"
                          % (name, "a port (1-65535)" if name.endswith("port") else ">= %d" % minimum, value))
    return value


def backends(per_host, served_model=""):
    """Every instance of every server host that serves the door's model: (sorted unique URLs, the one
    API key they share).

    per_host: {host: {"endpoints": [vllm_service endpoint dicts], "keys": {instance: key}}}.
    vllm-router 0.1.17 does not route by the request's model (it sends any request to any worker), so
    all backends must serve one model: served_model picks it; empty means the fleet must serve one.
    """
    served = {}
    for host in sorted(per_host):
        for ep in (per_host[host] or {}).get("endpoints") or []:
            served.setdefault(str(ep.get("model", "")), []).append("%s/%s" % (host, ep.get("name")))
    if not served_model and len(served) > 1:
        raise RouterError("vllm_router: the router sends every request to any backend, but the instances serve %d "
                          "models (%s); set vllm_router_served_model to the one this door serves"
                          % (len(served), "; ".join("%s: %s" % (m, ", ".join(v)) for m, v in sorted(served.items()))))
    if served_model and served_model not in served:
        raise RouterError("vllm_router_served_model %r is served by no instance (served: %s)"
                          % (served_model, ", ".join(sorted(served)) or "none"))
    urls, keys = [], {}
    for host in sorted(per_host):
        data = per_host[host] or {}
        host_keys = data.get("keys") or {}
        for ep in data.get("endpoints") or []:
            if served_model and str(ep.get("model", "")) != served_model:
                continue
            url = str(ep.get("public_url", "")).rstrip("/")
            if url.startswith("https://") or ep.get("tls"):
                raise RouterError(_TLS_BACKEND % ("%s's instance %s serves %s (vllm_service_tls_cert_src / the instance's "
                                                  "tls_cert_src)" % (host, ep.get("name"), url)))
            if not URL_RE.fullmatch(url):
                raise RouterError("vllm_router: %s's instance %s publishes no usable public_url (%r); set its "
                                  "vllm_service_advertise_address" % (host, ep.get("name"), url))
            if url not in urls:
                urls.append(url)
            key = host_keys.get(ep.get("name")) or ""
            if key:
                keys.setdefault(key, []).append("%s/%s" % (host, ep.get("name")))
    if len(keys) > 1:
        groups = sorted(", ".join(v) for v in keys.values())
        raise RouterError("vllm_router: the router sends one API key to every backend, but the instances behind it "
                          "have %d different vllm_service_api_key values (%s); give them one key or set "
                          "vllm_router_backend_api_key" % (len(keys), " | ".join(groups)))
    return sorted(urls), (next(iter(keys)) if keys else "")


def build(settings, per_host):
    """The router's configuration from the role's settings (vllm_router_* without the prefix)."""
    s = {name: _int(settings, name, minimum) for name, minimum in INT_SETTINGS}
    policy = str(settings.get("policy", ""))
    if policy not in POLICIES:
        raise RouterError("vllm_router_policy must be one of %s, got %r" % (", ".join(POLICIES), policy))
    for name in ("host", "prometheus_host"):
        value = str(settings.get(name, ""))
        if not HOST_RE.fullmatch(value):
            raise RouterError("vllm_router_%s must be an IP address or host name, got %r" % (name, value))
        s[name] = value
    if s["port"] == s["prometheus_port"]:
        raise RouterError("vllm_router_port and vllm_router_prometheus_port must differ (both %d)" % s["port"])

    explicit = settings.get("backends") or []
    if not isinstance(explicit, list):
        raise RouterError("vllm_router_backends must be a list of URLs, got %r" % (explicit,))
    if explicit:
        urls = []
        for url in explicit:
            url = str(url).rstrip("/")
            if url.startswith("https://"):
                raise RouterError(_TLS_BACKEND % ("vllm_router_backends lists %s" % url))
            if not URL_RE.fullmatch(url):
                raise RouterError("vllm_router_backends: %r is not http://<host>:<port>" % (url,))
            if url not in urls:
                urls.append(url)
        found_key = ""
    else:
        urls, found_key = backends(per_host, str(settings.get("served_model") or ""))
    if not urls:
        raise RouterError("vllm_router: no backends: vllm_router_backend_hosts (%r) matched no server instance and "
                          "vllm_router_backends is empty" % (settings.get("backend_hosts", ""),))

    backend_key = str(settings.get("backend_api_key") or "") or found_key
    if backend_key and not KEY_RE.fullmatch(backend_key):
        raise RouterError("vllm_router: the backends' API key must be 16-256 characters of A-Z a-z 0-9 . _ ~ + / = -"
                          " (vllm_service_api_key / vllm_router_backend_api_key)")

    door_keys = client_keys(settings.get("api_keys"))

    extra = settings.get("extra_args") or []
    if not isinstance(extra, list) or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool)
                                              for a in extra):
        raise RouterError("vllm_router_extra_args must be a list of strings, got %r" % (extra,))
    if any(str(a).startswith("--api-key") for a in extra):
        raise RouterError("vllm_router_extra_args must not set --api-key: use vllm_router_backend_api_key (a secret)")

    argv = [
        "--host", s["host"], "--port", str(s["port"]),
        "--worker-urls", *urls,
        "--policy", policy,
        "--health-check-endpoint", "/health",
        "--health-check-interval-secs", str(s["health_check_interval_secs"]),
        "--health-check-timeout-secs", str(s["health_check_timeout_secs"]),
        "--health-failure-threshold", str(s["health_failure_threshold"]),
        "--health-success-threshold", str(s["health_success_threshold"]),
        "--retry-max-retries", str(s["retry_max_retries"]),
        "--cb-failure-threshold", str(s["cb_failure_threshold"]),
        "--cb-timeout-duration-secs", str(s["cb_timeout_duration_secs"]),
        "--request-timeout-secs", str(s["request_timeout_secs"]),
        "--worker-startup-timeout-secs", str(s["worker_startup_timeout_secs"]),
        "--prometheus-host", s["prometheus_host"], "--prometheus-port", str(s["prometheus_port"]),
        *[str(a) for a in extra],
    ]
    return {
        "backends": urls,
        "argv": argv,
        "backend_api_key": backend_key,
        "door_keys": door_keys,
        "router_url": admin_url(s["host"], s["port"]),
        "door_port": s["door_port"],
        "request_timeout_secs": s["request_timeout_secs"],
        # The longest a dead backend keeps receiving requests (then retries go elsewhere).
        "ejection_secs": s["health_check_interval_secs"] * s["health_failure_threshold"]
        + s["health_check_timeout_secs"],
    }
