"""One run at a time per host (vllm_service's run lock), through the real entry points on a fresh host.

Nothing is installed: every run here either is refused in the preflight, before anything changes,
or only takes and ends the lock (tests/system/playbooks/run_lock.yml, the role's preflight and its
last task). Runs in file order on one host.
1. A live run holds the lock: site.yml is refused, naming that run (this controller, user, the pid of
   its ansible-playbook, since when) and the override; the host is unchanged.
2. That run is killed (SIGKILL: no chance to clean up): the next run takes the lock over at once
   (same controller, process gone), says so, and ends it when done.
3. A lease of another controller that has expired is taken over; one that has not is refused, also
   for the role alone and for a check-mode run; vllm_service_lock_break=true takes it, naming the run
   it broke.
"""

import getpass
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import REPO, ansible_playbook
from test_bad_input import host_untouched

LOCK = "/var/lib/llmops-vllm/run.lock"


def lease(host):
    rc, out = host.sh("cat %s" % LOCK)
    assert rc == 0, out
    return json.loads(out) if out.strip() else None


def foreign_lease(host, expires_in):
    now = time.time()
    doc = {"run_id": "f" * 32, "controller": "ci-runner-7", "user": "deploy", "pid": 31337, "boot_id": "x",
           "pid_ns": "pid:[1]", "start": "1", "since": now - 120, "expires": now + expires_in, "ttl": 3600}
    rc, out = host.sh("mkdir -p -m 0700 %s && echo '%s' > %s" % (os.path.dirname(LOCK), json.dumps(doc), LOCK))
    assert rc == 0, out


def hold(inventory, extra_vars=None):
    """The run_lock playbook to its end (takes the lock, ends it)."""
    res = ansible_playbook("tests/system/playbooks/run_lock.yml", inventory, extra_vars)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    return re.sub(r"\s+", " ", out)


@pytest.fixture(scope="module")
def inventory(systemd_host, tmp_path_factory):
    return systemd_host.inventory(tmp_path_factory.mktemp("lock"))


@pytest.fixture(scope="module")
def live_run(systemd_host, inventory, tmp_path_factory):
    """A run holding the lock, waiting for a file that never comes (killed by a test)."""
    wait = tmp_path_factory.mktemp("wait") / "go"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.Popen(["ansible-playbook", "-i", str(inventory), str(REPO / "tests/system/playbooks/run_lock.yml"),
                             "-e", json.dumps({"run_lock_wait_for": str(wait)})],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and systemd_host.sh("test -s %s" % LOCK)[0] != 0:
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(1)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_second_run_is_refused_naming_the_holder_and_the_override(systemd_host, inventory, live_run):
    held = lease(systemd_host)
    # The holder is the run's ansible-playbook process, as the second run's message says.
    assert held["pid"] == live_run.pid and held["controller"] == socket.gethostname()
    res = ansible_playbook("site.yml", inventory)
    out = res.stdout + res.stderr
    flat = re.sub(r"\s+", " ", out)
    assert res.returncode != 0, out
    for part in ("another run holds the lock on %s" % systemd_host.name, "controller %s" % socket.gethostname(),
                 "user %s" % getpass.getuser(), "pid %d" % live_run.pid,
                 time.strftime(", since %Y-%m-%dT", time.gmtime(held["since"])),
                 "vllm_service_lock_break=true"):
        assert part in flat, out
    recap = re.search(r"%s\s*:\s*ok=\d+\s+changed=(\d+).*failed=(\d+)" % systemd_host.name, out)
    assert recap and recap.groups() == ("0", "1"), out
    assert lease(systemd_host) == held  # the holder's lease untouched
    host_untouched(systemd_host)
    assert live_run.poll() is None  # and the holder runs on


def test_a_killed_run_does_not_keep_the_lock(systemd_host, inventory, live_run):
    dead_pid = live_run.pid
    # ansible-playbook and its workers, as a killed job goes: no chance to clean up.
    os.killpg(live_run.pid, signal.SIGKILL)
    live_run.wait()
    assert lease(systemd_host)["pid"] == dead_pid  # left behind
    out = hold(inventory)
    assert "took over the run lock on %s from controller %s, user %s, pid %d" % (
        systemd_host.name, socket.gethostname(), getpass.getuser(), dead_pid) in out, out
    assert "its ansible-playbook process on this controller is gone" in out, out
    assert lease(systemd_host) is None  # and ended when the run was done


def test_an_expired_lease_of_another_controller_is_taken_over(systemd_host, inventory):
    foreign_lease(systemd_host, expires_in=-5)
    out = hold(inventory)
    assert "took over the run lock on %s from controller ci-runner-7, user deploy, pid 31337" % systemd_host.name in out
    assert "its lease had expired" in out
    assert lease(systemd_host) is None


def test_a_live_lease_of_another_controller_holds_until_broken(systemd_host, inventory):
    foreign_lease(systemd_host, expires_in=3600)
    before = lease(systemd_host)
    # The role alone (a play of its own, no facts) is refused too.
    res = ansible_playbook("tests/system/playbooks/one_role.yml", inventory, {"one_role": "llmops.vllm.vllm_service"})
    out = res.stdout + res.stderr
    flat = re.sub(r"\s+", " ", out)
    assert res.returncode != 0, out
    assert "controller ci-runner-7, user deploy, pid 31337" in flat and "vllm_service_lock_break=true" in flat, out
    assert lease(systemd_host) == before
    # A check-mode run is refused too (it would predict against a host being changed) and writes nothing.
    res = ansible_playbook("site.yml", inventory, extra_args=("--check",))
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "controller ci-runner-7, user deploy" in re.sub(r"\s+", " ", out), out
    assert lease(systemd_host) == before
    host_untouched(systemd_host)
    out = hold(inventory, {"vllm_service_lock_break": True})
    assert "from controller ci-runner-7, user deploy, pid 31337" in out and "vllm_service_lock_break=true" in out, out
    assert lease(systemd_host) is None
