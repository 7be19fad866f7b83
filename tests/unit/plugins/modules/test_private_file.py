"""private_file: a secret-bearing file written atomically; the result says only whether it changed."""

import json
import os

from ansible_collections.llmops.vllm.plugins.modules import private_file

SECRET = 'VLLM_API_KEY="s3cret"\n'


def args(tmp_path, content=SECRET, **extra):
    return dict({"dest": str(tmp_path / "vllm.secrets.env"), "content": content}, **extra)


def test_writes_0600_and_returns_nothing_but_changed(run_module, tmp_path):
    res = run_module(private_file, args(tmp_path))
    assert res["changed"] is True
    dest = tmp_path / "vllm.secrets.env"
    assert dest.read_text() == SECRET and oct(dest.stat().st_mode & 0o777) == "0o600"
    # no checksum, size, diff or path: nothing derived from the secret
    assert set(res) - {"invocation", "_warnings"} == {"changed"}
    assert "s3cret" not in json.dumps(res)
    assert os.listdir(tmp_path) == ["vllm.secrets.env"]  # no temporary file left


def test_idempotent_and_check_mode_writes_nothing(run_module, tmp_path):
    run_module(private_file, args(tmp_path))
    assert run_module(private_file, args(tmp_path))["changed"] is False
    check = run_module(private_file, args(tmp_path, content='VLLM_API_KEY="new"\n'), check_mode=True)
    assert check["changed"] is True and (tmp_path / "vllm.secrets.env").read_text() == SECRET
    new = run_module(private_file, args(tmp_path, content='VLLM_API_KEY="new"\n'))
    assert new["changed"] is True and (tmp_path / "vllm.secrets.env").read_text() == 'VLLM_API_KEY="new"\n'


def test_a_mode_change_alone_is_a_change(run_module, tmp_path):
    run_module(private_file, args(tmp_path))
    os.chmod(tmp_path / "vllm.secrets.env", 0o644)
    assert run_module(private_file, args(tmp_path))["changed"] is True
    assert oct((tmp_path / "vllm.secrets.env").stat().st_mode & 0o777) == "0o600"


def test_a_link_is_refused_and_its_target_untouched(run_module, tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    (tmp_path / "vllm.secrets.env").symlink_to(target)
    res = run_module(private_file, args(tmp_path))
    assert res["failed"] and "not a regular file" in res["msg"]
    assert target.read_text() == "keep"


def test_an_unknown_owner_fails_clearly(run_module, tmp_path):
    res = run_module(private_file, args(tmp_path, owner="no-such-user-x"))
    assert res["failed"] and "bad owner" in res["msg"]
    assert not (tmp_path / "vllm.secrets.env").exists()
