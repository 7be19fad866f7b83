"""last_good: compare, keep and restore the last configuration that answered (named fields, atomic)."""

import json
import os

from ansible_collections.llmops.vllm.plugins.modules import last_good

UNIT = '[Service]\nExecStart="/opt/vllm/venvs/vllm-0.32.0/bin/vllm" "serve" "--model" "tiny"\n'
ENV = 'VLLM_API_KEY="s3cret"\n'


def files(tmp_path):
    (tmp_path / "good").mkdir(exist_ok=True)
    return [{"path": str(tmp_path / "vllm.service"), "good": str(tmp_path / "good" / "vllm.service"), "mode": "0644"},
            {"path": str(tmp_path / "vllm.env"), "good": str(tmp_path / "good" / "vllm.env"), "mode": "0600"}]


def write(tmp_path, unit=UNIT, env=ENV):
    (tmp_path / "vllm.service").write_text(unit)
    (tmp_path / "vllm.env").write_text(env)


def test_nothing_kept_yet_differs_and_has_no_good(run_module, tmp_path):
    write(tmp_path)
    res = run_module(last_good, {"files": files(tmp_path)})
    assert res["has_good"] is False and res["differs"] is True and res["complete"] is True
    assert res["changed"] is False


def test_saved_then_compared_then_idempotent(run_module, tmp_path):
    write(tmp_path)
    saved = run_module(last_good, {"files": files(tmp_path), "state": "saved"})
    assert saved["changed"] is True
    good_env = tmp_path / "good" / "vllm.env"
    assert good_env.read_text() == ENV and oct(good_env.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "good" / "vllm.service").stat().st_mode & 0o777) == "0o644"
    again = run_module(last_good, {"files": files(tmp_path), "state": "saved"})
    assert again["changed"] is False
    same = run_module(last_good, {"files": files(tmp_path)})
    assert same["has_good"] and not same["differs"]
    assert same["good_summary"] == "/opt/vllm/venvs/vllm-0.32.0/bin/vllm serve --model tiny"
    # no temporary files are left behind, and no secret or checksum is returned
    assert sorted(os.listdir(tmp_path / "good")) == ["vllm.env", "vllm.service"]
    assert "s3cret" not in json.dumps(same) and "checksum" not in json.dumps(same)


def test_a_change_differs_and_restore_brings_back_both_files(run_module, tmp_path):
    write(tmp_path)
    run_module(last_good, {"files": files(tmp_path), "state": "saved"})
    write(tmp_path, unit=UNIT.replace("tiny", "other"), env='VLLM_API_KEY="new"\n')
    assert run_module(last_good, {"files": files(tmp_path)})["differs"] is True
    check = run_module(last_good, {"files": files(tmp_path), "state": "restored"}, check_mode=True)
    assert check["changed"] is True and "other" in (tmp_path / "vllm.service").read_text()
    restored = run_module(last_good, {"files": files(tmp_path), "state": "restored"})
    assert restored["changed"] is True
    assert (tmp_path / "vllm.service").read_text() == UNIT and (tmp_path / "vllm.env").read_text() == ENV
    assert oct((tmp_path / "vllm.env").stat().st_mode & 0o777) == "0o600"


def test_a_missing_file_differs_and_cannot_be_kept(run_module, tmp_path):
    (tmp_path / "vllm.service").write_text(UNIT)
    res = run_module(last_good, {"files": files(tmp_path), "state": "saved"})
    assert res["failed"] and "vllm.env" in res["msg"] and not (tmp_path / "good" / "vllm.service").exists()


def test_nothing_to_restore_fails(run_module, tmp_path):
    write(tmp_path)
    res = run_module(last_good, {"files": files(tmp_path), "state": "restored"})
    assert res["failed"] and "no last good configuration" in res["msg"]


def test_check_mode_saves_nothing(run_module, tmp_path):
    write(tmp_path)
    res = run_module(last_good, {"files": files(tmp_path), "state": "saved"}, check_mode=True)
    assert res["changed"] is True and not (tmp_path / "good" / "vllm.env").exists()


def test_container_spec_summary_names_the_image(run_module, tmp_path):
    (tmp_path / "good").mkdir()
    spec = {"path": str(tmp_path / "c.container.json"), "good": str(tmp_path / "good" / "c.container.json"), "mode": "0600"}
    (tmp_path / "c.container.json").write_text(json.dumps({"spec": {"image": "vllm-cpu:v1"}, "secret_env": {"VLLM_API_KEY": "k"}}))
    run_module(last_good, {"files": [spec], "state": "saved"})
    res = run_module(last_good, {"files": [spec]})
    assert res["good_summary"] == "image vllm-cpu:v1"
