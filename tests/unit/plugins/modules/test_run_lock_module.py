"""run_lock, the module: takes, renews, refuses and ends the lease on a real file."""

import json

from ansible_collections.llmops.vllm.plugins.modules import run_lock

A = {"run_id": "run-a", "controller": "ctl", "user": "ops", "pid": 11}
B = {"run_id": "run-b", "controller": "ci-7", "user": "deploy", "pid": 22}


def test_acquire_refuse_release(run_module, tmp_path):
    path = str(tmp_path / "d" / "run.lock")
    first = run_module(run_lock, {"path": path, "holder": A, "ttl": 600})
    assert first["acquired"] and first["changed"] and first["reason"] == "free" and first["path"] == path
    assert first["holder"]["expires"] - first["holder"]["since"] == 600
    refused = run_module(run_lock, {"path": path, "holder": B})
    assert not refused["acquired"] and not refused["changed"] and refused["holder"]["run_id"] == "run-a"
    assert not refused.get("failed")  # the caller decides what a refusal means
    other = run_module(run_lock, {"path": path, "holder": {"run_id": "run-b"}, "state": "released"})
    assert not other["changed"] and other["reason"] == "not held"
    ended = run_module(run_lock, {"path": path, "holder": {"run_id": "run-a"}, "state": "released"})
    assert ended["changed"] and ended["reason"] == "released"
    assert run_module(run_lock, {"path": path, "holder": B})["acquired"]
    assert json.load(open(path))["user"] == "deploy"


def test_force_and_take_over(run_module, tmp_path):
    path = str(tmp_path / "run.lock")
    run_module(run_lock, {"path": path, "holder": A})
    assert run_module(run_lock, {"path": path, "holder": B, "take_over": "run-x"})["reason"] == "held"
    gone = run_module(run_lock, {"path": path, "holder": B, "take_over": "run-a"})
    assert gone["acquired"] and gone["reason"] == "gone" and gone["previous"]["run_id"] == "run-a"
    broken = run_module(run_lock, {"path": path, "holder": A, "force": True})
    assert broken["reason"] == "broken" and broken["previous"]["run_id"] == "run-b"


def test_check_mode_writes_nothing(run_module, tmp_path):
    path = tmp_path / "d" / "run.lock"
    res = run_module(run_lock, {"path": str(path), "holder": A}, check_mode=True)
    assert res["acquired"] and res["changed"] and not path.parent.exists()


def test_bad_arguments_and_links_fail_clearly(run_module, tmp_path):
    path = str(tmp_path / "run.lock")
    assert "holder.run_id" in run_module(run_lock, {"path": path, "holder": {"pid": 1}})["msg"]
    assert "ttl" in run_module(run_lock, {"path": path, "holder": A, "ttl": 0})["msg"]
    (tmp_path / "link.lock").symlink_to(tmp_path / "elsewhere")
    res = run_module(run_lock, {"path": str(tmp_path / "link.lock"), "holder": A})
    assert res["failed"] and "is a link" in res["msg"] and not (tmp_path / "elsewhere").exists()
