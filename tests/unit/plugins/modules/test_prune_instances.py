"""prune_instances: only instances the role created and no longer lists are removed.

systemctl is a stand-in script here that records its calls (no systemd in unit tests); the files
are real.
"""

import os
import stat

import pytest

from ansible_collections.llmops.vllm.plugins.modules import prune_instances


@pytest.fixture
def host(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    fake = bin_dir / "systemctl"
    fake.write_text("#!/bin/sh\necho \"$@\" >> %s\n" % log)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    etc, units, good = tmp_path / "etc", tmp_path / "units", tmp_path / "etc" / "last-good"
    good.mkdir(parents=True)
    (etc / "secrets").mkdir()
    units.mkdir()
    for name in ("keep", "old"):
        (etc / (name + ".env")).write_text("A=1\n")
        (etc / "secrets" / (name + ".env")).write_text("VLLM_API_KEY=k\n")
        (units / (name + ".service")).write_text("[Service]\n")
        (good / (name + ".env")).write_text("A=1\n")
        (good / (name + ".service")).write_text("[Service]\n")
        (etc / (name + ".tls.crt")).write_text("cert")
        (etc / (name + ".tls-ca.pem")).write_text("ca")
        (etc / "secrets" / (name + ".tls.key")).write_text("key")
    (etc / "other.container.json").write_text("{}")
    (etc / "linked.env").symlink_to(tmp_path / "elsewhere.env")
    args = {"keep": ["keep"], "config_dir": str(etc), "rollback_dir": str(good), "unit_dir": str(units)}
    return tmp_path, args, log


def test_removes_only_the_unlisted_instance(run_module, host):
    root, args, log = host
    res = run_module(prune_instances, args)
    assert res["changed"] and res["removed"] == ["old"]
    assert sorted(os.listdir(root / "units")) == ["keep.service"]
    assert sorted(os.listdir(root / "etc" / "last-good")) == ["keep.env", "keep.service"]
    assert sorted(os.listdir(root / "etc")) == ["keep.env", "keep.tls-ca.pem", "keep.tls.crt", "last-good", "linked.env",
                                                "other.container.json", "secrets"]
    assert sorted(os.listdir(root / "etc" / "secrets")) == ["keep.env", "keep.tls.key"]
    assert log.read_text().splitlines() == ["disable --now old.service", "daemon-reload"]
    again = run_module(prune_instances, args)
    assert not again["changed"] and again["removed"] == []


def test_check_mode_reports_and_removes_nothing(run_module, host):
    root, args, log = host
    res = run_module(prune_instances, args, check_mode=True)
    assert res["changed"] and res["removed"] == ["old"]
    assert (root / "units" / "old.service").exists() and not log.exists()


def test_a_missing_config_dir_is_nothing_to_prune(run_module, tmp_path):
    res = run_module(prune_instances, {"keep": [], "config_dir": str(tmp_path / "none")})
    assert not res["changed"] and res["removed"] == []


def test_containers_of_unlisted_instances_are_removed_with_their_settings(run_module, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    fake = bin_dir / "docker"  # stand-in docker CLI: lists two labelled containers, records the rest
    fake.write_text('#!/bin/sh\nif [ "$1" = ps ]; then printf "ct-keep\\tkeep\\nct-old\\told\\n"; '
                    'else echo "$@" >> %s; fi\n' % log)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    etc = tmp_path / "etc"
    (etc / "last-good").mkdir(parents=True)
    (etc / "secrets").mkdir()
    for name in ("keep", "old"):
        (etc / (name + ".container.json")).write_text("{}")
        (etc / "last-good" / (name + ".container.json")).write_text("{}")
        (etc / (name + ".tls.crt")).write_text("cert")
        (etc / "secrets" / (name + ".tls.key")).write_text("key")
    args = {"mode": "container", "keep": ["keep"], "config_dir": str(etc), "rollback_dir": str(etc / "last-good")}
    res = run_module(prune_instances, args)
    assert res["changed"] and res["removed"] == ["old"]
    assert log.read_text().splitlines() == ["rm -f ct-old"]
    assert sorted(os.listdir(etc)) == ["keep.container.json", "keep.tls.crt", "last-good", "secrets"]
    assert os.listdir(etc / "last-good") == ["keep.container.json"]
    assert os.listdir(etc / "secrets") == ["keep.tls.key"]
