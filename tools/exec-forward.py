#!/usr/bin/env python3
"""Forward a controller port into a container that has no network (docker run --network none).

    tools/exec-forward.py start CONTAINER HOST_ADDR:HOST_PORT:CONTAINER_PORT
    tools/exec-forward.py stop CONTAINER

`docker run --publish` needs a network; a test host without one is reached only through
`docker exec`, so this listens on HOST_ADDR:HOST_PORT and carries each connection over its own
`docker exec -i CONTAINER python3 -c RELAY`, which connects to 127.0.0.1:CONTAINER_PORT inside the
host. The bytes are relayed unchanged (HTTP, streaming, anything on TCP). `start` returns once the
port listens and leaves the forwarder in the background (it ends when the container is removed, or
on `stop`). Dev/CI only (Molecule's create/destroy for platforms with forwarded_ports).
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

STATE = Path(os.environ.get("TMPDIR", "/tmp")) / "llmops-exec-forward"

# Runs inside the host: one TCP connection to the port, stdin -> socket, socket -> stdout.
RELAY = r"""
import os, socket, sys, threading
conn = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def upstream():
    while True:
        data = os.read(0, 65536)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(data)
threading.Thread(target=upstream, daemon=True).start()
while True:
    data = conn.recv(65536)
    if not data:
        break
    os.write(1, data)
"""


def pump(read, write, done):
    try:
        while True:
            data = read()
            if not data:
                break
            write(data)
    except OSError:
        pass
    finally:
        done()


def serve_one(client, container, port):
    proc = subprocess.Popen(["docker", "exec", "-i", container, "python3", "-c", RELAY, str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)

    def client_done():
        try:
            proc.stdin.close()
        except OSError:
            pass

    def host_done():
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    up = threading.Thread(target=pump, args=(lambda: client.recv(65536), proc.stdin.write, client_done), daemon=True)
    up.start()
    pump(lambda: os.read(proc.stdout.fileno(), 65536), client.sendall, host_done)
    proc.wait()
    up.join(timeout=5)
    client.close()


def watch(container):
    """End with the container: `docker inspect` fails once it is removed."""
    while True:
        time.sleep(5)
        if subprocess.run(["docker", "inspect", container], capture_output=True, check=False).returncode:
            os._exit(0)


def pidfile(container, host_port):
    return STATE / ("%s.%s.pid" % (container, host_port))


def end(path, settle=0.0):
    """End the forwarder a pid file names (if it still runs), then forget the file."""
    try:
        os.kill(int(path.read_text()), signal.SIGTERM)
        time.sleep(settle)
    except (OSError, ValueError):
        pass
    path.unlink(missing_ok=True)


def start(container, spec):
    addr, host_port, port = spec.rsplit(":", 2)
    listener = socket.create_server((addr, int(host_port)), reuse_port=False)
    if os.fork():
        return 0  # the port listens: the caller may go on
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    STATE.mkdir(parents=True, exist_ok=True)
    pidfile(container, host_port).write_text(str(os.getpid()))
    threading.Thread(target=watch, args=(container,), daemon=True).start()
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve_one, args=(client, container, int(port)), daemon=True).start()


def stop(container):
    for path in sorted(STATE.glob("%s.*.pid" % container)):
        end(path)
    return 0


def main(argv):
    if len(argv) == 3 and argv[0] == "start":
        # A forwarder left from an earlier run of the same host holds the port: end it first.
        earlier = pidfile(argv[1], argv[2].rsplit(":", 2)[1])
        if earlier.is_file():
            end(earlier, settle=0.5)
        return start(argv[1], argv[2])
    if len(argv) == 2 and argv[0] == "stop":
        return stop(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
