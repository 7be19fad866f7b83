# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vllm-router's worker admin API, as far as a rolling change needs it (stdlib only).

Checked against vllm-router 0.1.17 on a router host's loopback: ``GET /list_workers`` answers
``{"urls": [...]}``; ``POST /remove_worker?url=<worker>`` and ``POST /add_worker?url=<worker>``
change the set (``add_worker`` answers 400 "... already exists" for a listed worker, and returns only
once the new one answers its health check). An added worker needs no key of its own: the router passes
each request's Authorization header on, which the door (nginx) sets to the backends' key.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse

from ansible.module_utils.urls import open_url


class RouterAdminError(Exception):
    """The router did not do what was asked; the message says what it answered."""

    def __init__(self, msg, unreachable=False):
        super(RouterAdminError, self).__init__(msg)
        self.msg = msg
        self.unreachable = unreachable


def _request(router_url, method, path, timeout):
    try:
        with open_url(router_url.rstrip("/") + path, method=method, data=b"" if method == "POST" else None,
                      timeout=timeout, use_proxy=False) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RouterAdminError("the router at %s does not answer: %s" % (router_url, reason), unreachable=True)


def list_workers(router_url, timeout=10):
    """The workers' URLs the router routes to now."""
    status, text = _request(router_url, "GET", "/list_workers", timeout)
    if status != 200:
        raise RouterAdminError("GET %s/list_workers answered %d: %s" % (router_url, status, text[:300]))
    try:
        urls = json.loads(text)["urls"]
    except (ValueError, KeyError, TypeError):
        raise RouterAdminError("GET %s/list_workers answered no worker list: %s" % (router_url, text[:300]))
    return [str(u).rstrip("/") for u in urls]


def _change(router_url, action, worker, timeout):
    query = urllib.parse.urlencode({"url": worker})
    status, text = _request(router_url, "POST", "/%s?%s" % (action, query), timeout)
    if status != 200:
        raise RouterAdminError("POST %s/%s for %s answered %d: %s" % (router_url, action, worker, status, text[:300]))


def set_worker(router_url, worker, present, check_mode=False, timeout=10, add_timeout=900):
    """Make the router list `worker` (present) or not; returns (changed, workers before)."""
    worker = worker.rstrip("/")
    before = list_workers(router_url, timeout)
    if (worker in before) == present:
        return False, before
    if not check_mode:
        # add_worker returns once the worker answers the router's health check.
        _change(router_url, "add_worker" if present else "remove_worker", worker, add_timeout if present else timeout)
    return True, before
