"""router_worker against a STAND-IN of vllm-router's worker admin API (the real router is exercised in
molecule/fleet): the same paths and answers vllm-router 0.1.17 gives (/list_workers {"urls"},
/remove_worker and /add_worker with ?url=, 400 for a worker that is already listed)."""

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.llmops.vllm.plugins.modules import router_worker

W1, W2 = "http://fleet-1:8000", "http://fleet-2:8000"


class StandInRouterAdmin(BaseHTTPRequestHandler):
    workers = []
    calls = []

    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.calls.append(("GET", self.path))
        if self.path == "/list_workers":
            return self._answer(200, json.dumps({"urls": list(self.workers)}))
        return self._answer(404, "not found")

    def do_POST(self):
        self.calls.append(("POST", self.path))
        parsed = urllib.parse.urlparse(self.path)
        url = urllib.parse.parse_qs(parsed.query).get("url", [""])[0]
        if parsed.path == "/add_worker":
            if url in self.workers:
                return self._answer(400, "Worker %s already exists" % url)
            self.workers.append(url)
            return self._answer(200, "Successfully added worker: %s" % url)
        if parsed.path == "/remove_worker":
            if url in self.workers:
                self.workers.remove(url)
            return self._answer(200, "Successfully removed worker: %s" % url)
        return self._answer(404, "not found")


@pytest.fixture
def router():
    StandInRouterAdmin.workers = [W1, W2]
    StandInRouterAdmin.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInRouterAdmin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def posts():
    return [c for c in StandInRouterAdmin.calls if c[0] == "POST"]


@pytest.mark.parametrize("state, url, changed, listed_before, after", [
    ("absent", W1, True, True, [W2]),            # taken out
    ("absent", "http://fleet-3:8000", False, False, [W1, W2]),  # never listed: nothing to do
    ("present", W1 + "/", False, True, [W1, W2]),  # listed already (a trailing slash is the same worker)
    ("present", "http://fleet-3:8000", True, False, [W1, W2, "http://fleet-3:8000"]),  # put back
])
def test_state(run_module, router, state, url, changed, listed_before, after):
    res = run_module(router_worker, {"router_url": router, "url": url, "state": state})
    assert (res["changed"], res["listed_before"], res["reachable"]) == (changed, listed_before, True)
    assert res["workers"] == after and StandInRouterAdmin.workers == after
    assert len(posts()) == (1 if changed else 0)
    if changed:
        assert posts()[0][1] == "/%s_worker?url=%s" % ("add" if state == "present" else "remove",
                                                       urllib.parse.quote(url.rstrip("/"), safe=""))


def test_check_mode_only_lists(run_module, router):
    res = run_module(router_worker, {"router_url": router, "url": W1, "state": "absent"}, check_mode=True)
    assert res["changed"] and res["workers"] == [W2]
    assert not posts() and StandInRouterAdmin.workers == [W1, W2]


def test_unreachable_router(run_module):
    args = {"router_url": "http://127.0.0.1:9", "url": W1, "state": "absent", "timeout": 2}
    res = run_module(router_worker, args)
    assert not res.get("failed") and not res["changed"] and res["reachable"] is False
    res = run_module(router_worker, dict(args, unreachable_ok=False))
    assert res["failed"] and "does not answer" in res["msg"]


def test_router_refusing_an_add_fails_with_its_answer(run_module, router, monkeypatch):
    # a listed worker is answered 400 by the router: the module never asks for one (it lists first), so
    # make the list lie to see the answer reach the user
    monkeypatch.setattr(StandInRouterAdmin, "workers", [W1, W2])
    real = StandInRouterAdmin.do_GET

    def lying_get(self):
        if self.path == "/list_workers":
            return self._answer(200, json.dumps({"urls": [W2]}))
        return real(self)

    monkeypatch.setattr(StandInRouterAdmin, "do_GET", lying_get)
    res = run_module(router_worker, {"router_url": router, "url": W1, "state": "present"})
    assert res["failed"] and "answered 400" in res["msg"] and "already exists" in res["msg"]


def test_not_a_router(run_module, router, monkeypatch):
    monkeypatch.setattr(StandInRouterAdmin, "do_GET", lambda self: self._answer(200, "<html>nginx</html>"))
    res = run_module(router_worker, {"router_url": router, "url": W1, "state": "absent"})
    assert res["failed"] and "no worker list" in res["msg"]
