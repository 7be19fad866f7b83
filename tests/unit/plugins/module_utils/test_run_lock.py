"""The host's run lock (plugins/module_utils/_run_lock.py): the lease policy, the file under flock,
and the controller's side (who runs, whether a holder of this controller is gone)."""

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils import _run_lock as lock

NOW = 1_800_000_000.0


def holder(run_id="run-a", **extra):
    return dict({"run_id": run_id, "controller": "ctl", "user": "ops", "pid": 4242, "boot_id": "b",
                 "pid_ns": "pid:[1]", "start": "77"}, **extra)


def lease(run_id="run-b", expires=NOW + 600, **extra):
    return dict(holder(run_id, **extra), since=NOW - 60, expires=expires, ttl=3600)


# ------------------------------------------------------------------------------------ the policy
@pytest.mark.parametrize("current,force,take_over,expected", [
    (None, False, None, "free"),
    (lease("run-a"), False, None, "renewed"),
    (lease("run-b"), False, None, None),                     # another live run: refused
    (lease("run-b", expires=NOW - 1), False, None, "expired"),
    (lease("run-b", expires=NOW), False, None, "expired"),   # the moment it expires
    (lease("run-b"), True, None, "broken"),
    (lease("run-b"), False, "run-b", "gone"),
    (lease("run-b"), False, "run-c", None),                  # the gone holder is not the one holding it now
])
def test_decide(current, force, take_over, expected):
    assert lock.decide(current, holder("run-a"), NOW, force=force, take_over=take_over) == expected


# ------------------------------------------------------------------------------- the lease file
def test_take_renew_refuse_release(tmp_path):
    path = str(tmp_path / "lock" / "run.lock")
    first = lock.acquire(path, holder("run-a"), 3600, now=NOW)
    assert first["acquired"] and first["reason"] == "free" and first["changed"]
    assert first["holder"]["since"] == NOW and first["holder"]["expires"] == NOW + 3600
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"

    again = lock.acquire(path, holder("run-a"), 3600, now=NOW + 100)
    assert again["acquired"] and again["reason"] == "renewed" and not again["changed"]
    assert again["holder"]["since"] == NOW and again["holder"]["expires"] == NOW + 3700

    other = lock.acquire(path, holder("run-b", pid=99), 3600, now=NOW + 200)
    assert not other["acquired"] and other["reason"] == "held"
    assert other["holder"]["run_id"] == "run-a" and other["holder"]["pid"] == 4242
    assert json.load(open(path))["run_id"] == "run-a"  # a refusal writes nothing

    assert not lock.release(path, "run-b")  # not its lease
    assert json.load(open(path))["run_id"] == "run-a"
    assert lock.release(path, "run-a")
    assert open(path).read() == "" and os.path.exists(path)  # emptied in place, never unlinked
    assert not lock.release(path, "run-a")
    assert lock.acquire(path, holder("run-b"), 3600, now=NOW + 300)["reason"] == "free"


def test_expired_lease_is_taken_over_and_the_previous_holder_reported(tmp_path):
    path = str(tmp_path / "run.lock")
    lock.acquire(path, holder("run-a"), 60, now=NOW)
    taken = lock.acquire(path, holder("run-b"), 3600, now=NOW + 61)
    assert taken["acquired"] and taken["reason"] == "expired"
    assert taken["previous"]["run_id"] == "run-a" and taken["holder"]["run_id"] == "run-b"


def test_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "lock" / "run.lock")
    res = lock.acquire(path, holder("run-a"), 3600, now=NOW, check_mode=True)
    assert res["acquired"] and not os.path.exists(os.path.dirname(path))
    lock.acquire(path, holder("run-a"), 3600, now=NOW)
    refused = lock.acquire(path, holder("run-b"), 3600, now=NOW, check_mode=True)
    assert not refused["acquired"] and refused["holder"]["run_id"] == "run-a"
    assert lock.release(path, "run-a", check_mode=True) and json.load(open(path))["run_id"] == "run-a"


def test_a_torn_or_foreign_file_holds_no_lease(tmp_path):
    path = tmp_path / "run.lock"
    path.write_text("{not json")
    assert lock.acquire(str(path), holder("run-a"), 60, now=NOW)["reason"] == "free"
    path.write_text('["a list"]')
    assert lock.acquire(str(path), holder("run-b"), 60, now=NOW)["reason"] == "free"


def test_links_are_refused(tmp_path):
    target = tmp_path / "target"
    target.write_text("")
    link = tmp_path / "run.lock"
    link.symlink_to(target)
    with pytest.raises(lock.LockError, match="is a link"):
        lock.acquire(str(link), holder(), 60, now=NOW)
    os.mkdir(tmp_path / "real")
    (tmp_path / "dirlink").symlink_to(tmp_path / "real")
    with pytest.raises(lock.LockError, match="is a link"):
        lock.acquire(str(tmp_path / "dirlink" / "run.lock"), holder(), 60, now=NOW)
    assert target.read_text() == "" and not (tmp_path / "real" / "run.lock").exists()


def _contend(path, run_id, start, queue):
    while time.time() < start:
        time.sleep(0.001)
    queue.put((run_id, lock.acquire(path, holder(run_id), 3600)["acquired"]))


def test_runs_deciding_at_the_same_moment_cannot_both_win(tmp_path):
    path = str(tmp_path / "run.lock")
    ctx = multiprocessing.get_context("fork")
    for _round in range(3):
        if os.path.exists(path):
            os.truncate(path, 0)
        queue, start = ctx.Queue(), time.time() + 0.2
        procs = [ctx.Process(target=_contend, args=(path, "run-%d" % i, start, queue)) for i in range(8)]
        for proc in procs:
            proc.start()
        results = dict(queue.get(timeout=30) for _proc in procs)
        for proc in procs:
            proc.join(30)
        winners = [run for run, won in results.items() if won]
        assert len(winners) == 1
        assert json.load(open(path))["run_id"] == winners[0]


# ------------------------------------------------------------------------------- the controller
def test_identity_is_the_same_for_one_process_and_differs_for_another():
    me = lock.identity(os.getpid())
    assert me == lock.identity(os.getpid())
    assert me["pid"] == os.getpid() and me["controller"] and me["user"]
    assert me["start"] and me["boot_id"] and me["pid_ns"].startswith("pid:[")  # Linux: /proc
    assert lock.identity()["pid"] == os.getppid()  # the default: the process that forked this one
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert lock.identity(child.pid)["run_id"] != me["run_id"]
    finally:
        child.kill()
        child.wait()


def test_holder_gone_only_for_a_dead_process_of_this_controller():
    me = lock.identity(os.getpid())
    alive = dict(me)
    assert not lock.holder_gone(alive, me)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = lock.identity(child.pid)
    child.wait()
    assert lock.holder_gone(dead, me)
    # The same pid, but not the process that took the lease (another start time): gone.
    assert lock.holder_gone(dict(me, start="1"), me)
    # Another controller, or this one before a reboot or in another PID namespace: never judged here.
    for other in ({"controller": "elsewhere"}, {"boot_id": "other-boot"}, {"pid_ns": "pid:[9]"},
                  {"boot_id": ""}, {"pid_ns": ""}):
        assert not lock.holder_gone(dict(dead, **other), me)
    assert not lock.holder_gone(None, me) and not lock.holder_gone({}, me)


def test_describe_names_controller_user_pid_and_times():
    text = lock.describe(lease("run-b", expires=NOW + 600))
    assert text == ("controller ctl, user ops, pid 4242, since 2027-01-15T07:59:00Z "
                    "(lease expires 2027-01-15T08:10:00Z)")


class FakeHost:
    """The run_lock module's side, on a real lease file: what _execute_module would return."""

    def __init__(self, path):
        self.path, self.calls = path, []

    def __call__(self, args):
        self.calls.append(args)
        return dict(lock.acquire(args["path"], args["holder"], args["ttl"], force=args["force"],
                                 take_over=args.get("take_over")), path=args["path"])


def test_take_refuses_a_live_run_naming_it_and_the_override(tmp_path):
    host = FakeHost(str(tmp_path / "run.lock"))
    me = lock.identity(os.getpid())
    other = dict(holder("run-x", controller="ci-7", user="deploy", pid=31337), run_id="run-x")
    lock.acquire(host.path, other, 3600)
    result, refused = lock.take(host, me, 3600, host="web-1", path=host.path)
    assert not result["acquired"] and len(host.calls) == 1
    for part in ("web-1", host.path, "controller ci-7", "user deploy", "pid 31337", "since ",
                 "vllm_service_lock_break=true", "vllm_service_lock_ttl"):
        assert part in refused


def test_take_takes_over_from_a_dead_run_of_this_controller(tmp_path):
    host = FakeHost(str(tmp_path / "run.lock"))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = lock.identity(child.pid)
    child.wait()
    lock.acquire(host.path, dead, 3600)
    me = lock.identity(os.getpid())
    result, refused = lock.take(host, me, 3600, path=host.path)
    assert refused is None and result["reason"] == "gone" and result["previous"]["pid"] == child.pid
    assert host.calls[1]["take_over"] == dead["run_id"]  # conditional on that run still holding it
    assert json.load(open(host.path))["run_id"] == me["run_id"]


def test_take_breaks_only_when_asked(tmp_path):
    host = FakeHost(str(tmp_path / "run.lock"))
    lock.acquire(host.path, holder("run-x", controller="ci-7"), 3600)
    me = lock.identity(os.getpid())
    assert lock.take(host, me, 3600, path=host.path)[1]
    result, refused = lock.take(host, me, 3600, force=True, path=host.path)
    assert refused is None and result["reason"] == "broken" and result["previous"]["controller"] == "ci-7"


@pytest.mark.parametrize("answer, message", [
    ({"failed": True, "msg": "run_lock: boom"}, "run_lock on web-1 failed: run_lock: boom"),
    ({"unreachable": True, "msg": "ssh: timeout"}, "run_lock on web-1 failed: ssh: timeout"),
    ({}, "run_lock on web-1 failed: no answer"),
])
def test_take_reports_a_module_that_did_not_answer(answer, message):
    assert lock.take(lambda args: answer, holder(), 60, host="web-1")[1] == message
