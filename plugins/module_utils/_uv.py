# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where uv (and pip) take packages from, and the environment they run with: one function for
uv_python, vllm_cpu_build and vllm_gpu (wheelhouse, mirror, offline, CA bundle)."""

from __future__ import annotations


def _list(value):
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v]


def index_args(settings):
    """Command-line flags. settings: tool (uv | pip), index_url, extra_index_urls, find_links (a path or
    a list), offline, no_index (default: offline), index_strategy and torch_backend (uv only)."""
    s = dict(settings)
    tool = s.get("tool", "uv")
    if tool not in ("uv", "pip"):
        raise ValueError("tool must be uv or pip, got %r" % (tool,))
    offline = bool(s.get("offline"))
    no_index = bool(s.get("no_index")) or offline
    args = []
    if offline and tool == "uv":
        args.append("--offline")
    if no_index:
        args.append("--no-index")
    else:
        if s.get("index_url"):
            args += ["--index-url", s["index_url"]]
        args += ["--extra-index-url=" + u for u in _list(s.get("extra_index_urls"))]
        if tool == "uv" and s.get("index_strategy"):
            args += ["--index-strategy", s["index_strategy"]]
        if tool == "uv" and s.get("torch_backend"):
            args += ["--torch-backend", s["torch_backend"]]
    return args + ["--find-links=" + f for f in _list(s.get("find_links"))]


def environment(settings):
    """The environment every uv/pip call of the roles shares. settings: environment (the user's own,
    e.g. a proxy), native_tls (default true), ca_bundle, offline. Roles add their own variables."""
    s = dict(settings)
    env = dict(s.get("environment") or {})
    # uv ships its own CA roots; UV_SYSTEM_CERTS (UV_NATIVE_TLS before uv 0.13) makes it use the host's.
    if s.get("native_tls", True):
        env.update({"UV_SYSTEM_CERTS": "1", "UV_NATIVE_TLS": "1"})
    if s.get("ca_bundle"):
        env.update({"SSL_CERT_FILE": s["ca_bundle"], "PIP_CERT": s["ca_bundle"]})
    if s.get("offline"):
        env["UV_OFFLINE"] = "1"
    return env
