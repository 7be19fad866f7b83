"""The multi-node launcher's liveness protocol (roles/vllm_service/files/vllm_node.py), on loopback:
a worker joins the first head it sees and ends when that head is gone or replaced; the head ends when a
worker that joined it is gone or replaced, and ignores a worker that joined another head."""

import importlib.util
import socket
import threading
import time
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "roles/vllm_service/files/vllm_node.py"


@pytest.fixture()
def launcher(monkeypatch):
    spec = importlib.util.spec_from_file_location("vllm_node", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "POLL_SEC", 0.05)
    return module


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def start(launcher, head, port, joined=None):
    node = launcher.Node(head=head)
    if joined:
        node.joined = joined
    threading.Thread(target=node.serve, args=(port,), daemon=True).start()
    assert until(lambda: launcher.ask("127.0.0.1", port) is not None), "the node does not answer on %d" % port
    return node


def stop(node, port, launcher):
    node.stop.set()
    assert until(lambda: launcher.ask("127.0.0.1", port) is None), "the node still answers on %d" % port


def test_a_node_answers_with_its_id_and_the_head_it_joined(launcher):
    port = free_port()
    head = start(launcher, True, port)
    assert launcher.ask("127.0.0.1", port) == (head.id, head.id)
    stop(head, port, launcher)
    assert launcher.ask("127.0.0.1", port) is None


def test_a_worker_joins_the_head_and_ends_when_the_head_is_replaced(launcher):
    head_port, worker_port = free_port(), free_port()
    head = start(launcher, True, head_port)
    worker = start(launcher, False, worker_port)
    threading.Thread(target=launcher.follow_head, args=(worker, ("127.0.0.1", head_port)), daemon=True).start()
    assert until(lambda: worker.joined == head.id)
    assert launcher.ask("127.0.0.1", worker_port) == (worker.id, head.id)
    stop(head, head_port, launcher)
    start(launcher, True, head_port)  # a new head on the same port, faster than the misses add up
    assert until(worker.stop.is_set)
    assert "the head at 127.0.0.1:%d" % head_port in worker.why
    stop(worker, worker_port, launcher)


def test_the_head_ends_when_its_worker_is_gone_but_ignores_one_of_another_head(launcher):
    head_port, worker_port = free_port(), free_port()
    head = start(launcher, True, head_port)
    stale = start(launcher, False, worker_port, joined="an-old-head")
    threading.Thread(target=launcher.watch_workers, args=(head, [("127.0.0.1", worker_port)]), daemon=True).start()
    time.sleep(0.5)
    assert not head.stop.is_set()  # a worker of an earlier head: neither tracked nor a reason to end
    stop(stale, worker_port, launcher)
    assert not head.stop.is_set()
    worker = start(launcher, False, worker_port, joined=head.id)
    time.sleep(0.3)
    assert not head.stop.is_set()
    stop(worker, worker_port, launcher)  # the worker that joined this head goes
    assert until(head.stop.is_set)
    assert head.why == "the worker at 127.0.0.1:%d is gone" % worker_port
    stop(head, head_port, launcher)
