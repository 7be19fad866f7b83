# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run at a time per host: a lease file on the host, taken before a run changes anything.

The lease names its holder (controller host, user, pid of ``ansible-playbook``, since when) and
expires ``ttl`` seconds after it was last taken or renewed, so a run that was killed does not keep
the host forever. A holder that ran on the same controller (same host name, boot and PID namespace)
and whose process is gone is stale at once; one from another controller only when its lease has
expired, or when the user breaks it explicitly.

Two halves, both pure Python (no Ansible imports), unit-tested:
- on the host (module ``run_lock``): ``acquire`` / ``release`` read and rewrite the lease under an
  exclusive ``flock`` on the lease file itself, so two runs deciding at the same moment cannot both
  win. The file is rewritten in place and never unlinked (a run that opened the old inode would
  otherwise lock a file nobody else sees).
- on the controller (the ``vllm_service_*`` actions): ``identity`` of the running ``ansible-playbook``,
  ``holder_gone`` for a holder that ran here, and ``take`` that ties both halves together.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import hashlib
import json
import os
import socket
import stat
import time

LOCK_PATH = "/var/lib/llmops-vllm/run.lock"
BREAK_VAR = "vllm_service_lock_break"
TTL_VAR = "vllm_service_lock_ttl"
HOLDER_KEYS = ("run_id", "controller", "user", "pid", "boot_id", "pid_ns", "start")


class LockError(Exception):
    """The lease file cannot be used (a link, not a regular file, unreadable)."""


# ---------------------------------------------------------------------------------------- controller
def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def process_start(pid, proc="/proc"):
    """The process's start time in clock ticks since boot (Linux), or "" where /proc has none."""
    stat = _read("%s/%d/stat" % (proc, pid))
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = stat[stat.rfind(")") + 2:].split() if stat else []
    return fields[19] if len(fields) > 19 else ""


def _pid_ns(pid, proc="/proc"):
    try:
        return os.readlink("%s/%d/ns/pid" % (proc, pid))
    except OSError:
        return ""


def identity(pid=None, proc="/proc"):
    """Who runs: this controller, its user and the ansible-playbook process.

    Action plugins run in worker processes forked from ``ansible-playbook``, so by default the run's
    process is the worker's parent. ``run_id`` is the same for every task of one run and differs for
    another run, also one that reuses the pid (the process start time is part of it).
    """
    pid = os.getppid() if pid is None else pid
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    me = {
        "controller": socket.gethostname(),
        "user": user,
        "pid": pid,
        "boot_id": _read(proc + "/sys/kernel/random/boot_id"),
        "pid_ns": _pid_ns(pid, proc),
        "start": process_start(pid, proc),
    }
    digest = hashlib.sha256("\0".join(str(me[k]) for k in sorted(me)).encode()).hexdigest()
    me["run_id"] = digest[:32]
    return me


def _alive(pid, start, proc="/proc"):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    except (OSError, ValueError, TypeError):
        return True  # cannot tell: treat as alive
    # The same pid, but a later process: the holder is gone.
    return not start or process_start(int(pid), proc) in ("", start)


def holder_gone(holder, me, proc="/proc"):
    """True when ``holder`` ran on this controller and its ansible-playbook process is gone.

    Only decided where it can be: the same host name, boot and PID namespace as ``me``. A holder on
    another controller (or on this one before a reboot, or in another container) is never judged
    here; its lease expiry decides.
    """
    if not holder or not holder.get("boot_id") or not holder.get("pid_ns"):
        return False
    same = all(holder.get(k) == me.get(k) for k in ("controller", "boot_id", "pid_ns"))
    return same and not _alive(holder.get("pid"), holder.get("start", ""), proc)


def describe(holder):
    """One line naming the holder: controller, user, pid, since when, and when the lease expires."""
    def utc(seconds):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(seconds))) if seconds else "?"
    return "controller %s, user %s, pid %s, since %s (lease expires %s)" % (
        holder.get("controller", "?"), holder.get("user", "?"), holder.get("pid", "?"),
        utc(holder.get("since")), utc(holder.get("expires")))


def take(execute, me, ttl, force=False, host="the host", path=LOCK_PATH):
    """Take (or renew) the lease on the host through ``execute(module_args)`` (the run_lock module).

    Returns ``(result, None)`` with the module's result when this run holds the lease (or, in check
    mode, could take it), else ``(result, message)``: the message names the holder and the override.
    A holder of this controller whose process is gone is taken over with a second, conditional call
    (only if that holder still holds it).
    """
    def answer(args):
        result = execute(args)
        if result.get("failed") or result.get("unreachable") or "acquired" not in result:
            return result, "run_lock on %s failed: %s" % (host, result.get("msg") or "no answer")
        return result, None

    args = {"path": path, "holder": {k: me[k] for k in HOLDER_KEYS}, "ttl": int(ttl), "force": bool(force)}
    result, failed = answer(args)
    if failed or result["acquired"]:
        return result, failed
    holder = result.get("holder") or {}
    if holder_gone(holder, me):
        result, failed = answer(dict(args, take_over=holder.get("run_id")))
        if failed or result["acquired"]:
            return result, failed
        holder = result.get("holder") or {}
    return result, (
        "another run holds the lock on %s (%s): %s. It may still be changing the host: wait for it to "
        "finish. If it is dead (killed, or its controller is gone), re-run with -e %s=true to break the lock; it "
        "also ends on its own when the lease expires (%s)."
        % (host, result.get("path", path), describe(holder), BREAK_VAR, TTL_VAR))


# ------------------------------------------------------------------------------------------- host
def _open(path, create):
    """The lease file, opened without following a link, and flock()ed exclusively."""
    directory = os.path.dirname(path)
    if create and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.path.islink(directory):
        raise LockError("%s is a link; refusing to use it for the run lock" % directory)
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise LockError("%s is a link; refusing to use it for the run lock" % path)
        raise LockError("cannot open %s: %s" % (path, err))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LockError("%s is not a regular file" % path)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _load(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    if not data.strip():
        return None
    try:
        lease = json.loads(data.decode())
    except ValueError:
        return None  # a torn or foreign file holds no lease
    return lease if isinstance(lease, dict) and lease.get("run_id") else None


def _store(fd, lease):
    data = (json.dumps(lease, sort_keys=True) + "\n").encode() if lease else b""
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    while data:
        data = data[os.write(fd, data):]
    os.fsync(fd)


def decide(current, holder, now, force=False, take_over=None):
    """Why ``holder`` may take the lease over ``current`` ("free", "renewed", "expired", "gone",
    "broken"), or None when it may not. Pure: the whole policy."""
    if current is None:
        return "free"
    if current.get("run_id") == holder.get("run_id"):
        return "renewed"
    if float(current.get("expires") or 0) <= now:
        return "expired"
    if take_over and current.get("run_id") == take_over:
        return "gone"
    if force:
        return "broken"
    return None


def acquire(path, holder, ttl, now=None, force=False, take_over=None, check_mode=False):
    """Take, renew or refuse the lease. Returns a result dict for the module:
    ``acquired`` (bool), ``reason``, ``holder`` (the lease now, or the other run's), ``previous``
    (the run whose lease was taken over, if any) and ``changed``."""
    now = time.time() if now is None else now
    fd = _open(path, create=not check_mode)
    try:
        current = _load(fd) if fd is not None else None
        reason = decide(current, holder, now, force, take_over)
        if reason is None:
            return {"acquired": False, "reason": "held", "holder": current, "previous": None, "changed": False}
        lease = dict((k, holder.get(k)) for k in HOLDER_KEYS)
        lease["since"] = current.get("since", now) if reason == "renewed" else now
        lease["expires"] = now + int(ttl)
        lease["ttl"] = int(ttl)
        if not check_mode:
            _store(fd, lease)
        previous = current if reason in ("expired", "gone", "broken") else None
        return {"acquired": True, "reason": reason, "holder": lease, "previous": previous,
                "changed": reason != "renewed"}
    finally:
        if fd is not None:
            os.close(fd)


def release(path, run_id, check_mode=False):
    """End the lease if ``run_id`` holds it (another run's lease is left alone). Returns changed."""
    fd = _open(path, create=False)
    if fd is None:
        return False
    try:
        current = _load(fd)
        if current is None or current.get("run_id") != run_id:
            return False
        if not check_mode:
            _store(fd, None)
        return True
    finally:
        os.close(fd)
