"""wait_healthy's logic: health polling with crash-loop and death detection (no real service here;
the Molecule scenario exercises the module against a real systemd unit)."""

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils import _service_health as sh


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def state(active="active", restarts=0, dead=False):
    return {"active": active, "sub": "running", "result": "success", "exit_status": "0",
            "restarts": restarts, "dead": dead}


def run_wait(statuses, states, timeout=30, max_restarts=2):
    clock = FakeClock()
    statuses, states = iter(statuses), iter(states)
    return sh.wait_healthy(
        get_status=lambda: next(statuses),
        get_state=lambda: next(states),
        get_logs=lambda: ["line 1", "Traceback: boom"],
        timeout=timeout, interval=2, max_restarts=max_restarts, clock=clock, sleep=clock.sleep,
    )


def test_healthy_after_some_polls():
    result = run_wait([(None, "connection refused"), (503, "HTTP 503"), (200, "")], [state()] * 3)
    assert result["status"] == 200
    assert result["elapsed_s"] == 4.0
    assert result["restarts"] == 0


def test_crash_loop_fails_fast_with_logs():
    with pytest.raises(sh.ServiceFailed) as err:
        run_wait([(None, "refused")] * 10, [state(restarts=0), state(restarts=2), state(restarts=3)])
    assert "crash loop" in str(err.value)
    assert "Traceback: boom" in err.value.logs


def test_restarts_before_the_wait_do_not_count():
    """NRestarts survives `systemctl restart` (e.g. a rollback after a crash loop): only new ones count."""
    result = run_wait([(None, "refused"), (None, "refused"), (200, "")],
                      [state(restarts=3), state(restarts=4), state(restarts=5)])
    assert result["status"] == 200 and result["restarts"] == 5


def test_crash_loop_counted_from_the_first_reading():
    with pytest.raises(sh.ServiceFailed) as err:
        run_wait([(None, "refused")] * 10, [state(restarts=3), state(restarts=5), state(restarts=6)])
    assert "restarted 3 times (more than 2)" in str(err.value)


def test_dead_unit_fails_fast():
    with pytest.raises(sh.ServiceFailed) as err:
        run_wait([(None, "refused")] * 5, [state(), state(active="failed", dead=True)])
    assert "failed" in str(err.value)


def test_timeout_names_last_answer():
    with pytest.raises(sh.ServiceFailed) as err:
        run_wait([(503, "HTTP 503")] * 100, [state()] * 100, timeout=10)
    assert "not healthy after 10s" in str(err.value)
    assert "HTTP 503" in str(err.value)


def test_parse_systemctl_show_real_output():
    # As printed by systemd 252 (Debian 12) for `systemctl show vllm -p ...`.
    text = "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nResult=exit-code\nNRestarts=3\nExecMainStatus=1\n"

    def run(argv):
        assert argv[:3] == ["systemctl", "show", "vllm.service"]
        return 0, text, ""

    st = sh.systemd_state(run, "vllm.service")
    assert st == {"active": "activating", "sub": "auto-restart", "result": "exit-code",
                  "exit_status": "1", "restarts": 3, "dead": False}


def test_missing_unit_is_an_error():
    with pytest.raises(sh.ServiceFailed, match="does not exist"):
        sh.systemd_state(lambda argv: (0, "LoadState=not-found\nActiveState=inactive\n", ""), "nope.service")


def test_container_state_from_docker_inspect():
    out = '{"Status":"restarting","Running":false,"Restarting":true,"ExitCode":1,"Error":""}|4\n'
    st = sh.container_state(lambda argv: (0, out, ""), "vllm")
    assert st["restarts"] == 4 and st["sub"] == "restarting" and not st["dead"]


def test_http_get_status_connection_refused():
    status, error = sh.http_get_status("http://127.0.0.1:9/health", timeout=1)
    assert status is None and error
