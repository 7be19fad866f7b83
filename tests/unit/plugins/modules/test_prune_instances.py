"""prune_instances: only instances the role created and no longer lists are removed, in both modes.

systemctl and docker are stand-in scripts here that record their calls (no systemd and no Docker of
our own in unit tests; PATH holds only the stand-ins, so the machine's real docker is never reached);
the files are real.
"""

import os
import stat

import pytest

from ansible_collections.llmops.vllm.plugins.modules import prune_instances


@pytest.fixture(autouse=True)
def stand_ins_only(tmp_path, monkeypatch):
    """PATH holds only tmp_path/bin (the stand-ins a test puts there): every test, also one that puts
    none, must never list or remove the containers of this machine's real (shared) Docker."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(bin_dir))
    # And should a real docker CLI be found anyway, it reaches no daemon.
    monkeypatch.setenv("DOCKER_HOST", "unix://%s/no-docker.sock" % tmp_path)
    return bin_dir


def fake_docker(bin_dir, log, listing="", ps_rc=0):
    """A docker CLI that answers `ps` with ``listing`` (name TAB instance label lines) and records the rest."""
    fake = bin_dir / "docker"
    fake.write_text('#!/bin/sh\nif [ "$1" = ps ]; then echo "$@" >> %s.ps; printf "%s"; exit %d; fi\n'
                    'echo "$@" >> %s\n' % (log, listing, ps_rc, log))
    fake.chmod(0o755)


@pytest.fixture
def host(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    log = tmp_path / "systemctl.log"
    fake = bin_dir / "systemctl"
    fake.write_text("#!/bin/sh\necho \"$@\" >> %s\n" % log)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    # Only the stand-ins: a test must never list (or remove) the containers of this machine's Docker.
    monkeypatch.setenv("PATH", str(bin_dir))
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
    log = tmp_path / "docker.log"
    fake_docker(bin_dir, log, "ct-keep\\tkeep\\nct-old\\told\\n")
    monkeypatch.setenv("PATH", str(bin_dir))
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


# Both modes: a host switched from containers to units (or back) keeps none of the other mode's instances.
def test_systemd_mode_removes_every_container_of_an_earlier_container_mode(run_module, host):
    root, args, log = host
    docker_log = root / "docker.log"
    # "keep" ran as a container before; now it is listed as a unit: its container goes too.
    fake_docker(root / "bin", docker_log, "ct-keep\\tkeep\\nct-gone\\tgone\\n")
    (root / "etc" / "keep.container.json").write_text("{}")
    (root / "etc" / "last-good" / "keep.container.json").write_text("{}")
    res = run_module(prune_instances, args)
    assert res["changed"] and res["removed"] == ["gone", "keep", "old"]
    assert res["containers"] == ["gone", "keep"] and res["units"] == ["old"]
    # Only the role's containers were asked for (its label), and only they were removed.
    assert (root / "docker.log.ps").read_text().split()[:4] == ["ps", "-a", "--filter", "label=llmops.vllm.instance"]
    assert docker_log.read_text().splitlines() == ["rm -f ct-gone", "rm -f ct-keep"]
    assert not (root / "etc" / "keep.container.json").exists()
    assert not (root / "etc" / "last-good" / "keep.container.json").exists()
    # The listed unit and its files stay.
    assert (root / "units" / "keep.service").exists() and (root / "etc" / "keep.env").exists()
    assert log.read_text().splitlines() == ["disable --now old.service", "daemon-reload"]


def test_container_mode_removes_every_unit_of_an_earlier_systemd_mode(run_module, host):
    root, args, log = host
    docker_log = root / "docker.log"
    fake_docker(root / "bin", docker_log, "ct-keep\\tkeep\\n")
    res = run_module(prune_instances, dict(args, mode="container"))
    # "keep" is listed, as a container now: its unit, env, secrets and last good copies go.
    assert res["changed"] and res["removed"] == ["keep", "old"]
    assert res["units"] == ["keep", "old"] and res["containers"] == []
    assert os.listdir(root / "units") == []
    # keep's TLS files serve its container now; old's go with it.
    assert os.listdir(root / "etc" / "secrets") == ["keep.tls.key"]
    assert os.listdir(root / "etc" / "last-good") == []
    assert sorted(os.listdir(root / "etc")) == ["keep.tls-ca.pem", "keep.tls.crt", "last-good", "linked.env",
                                                "other.container.json", "secrets"]
    assert log.read_text().splitlines() == ["disable --now keep.service", "disable --now old.service", "daemon-reload"]
    assert not docker_log.exists()  # the listed container stays


def test_systemd_mode_without_docker_prunes_units_only(run_module, host):
    root, args, log = host
    assert not (root / "bin" / "docker").exists()
    res = run_module(prune_instances, args)
    assert res["removed"] == ["old"] and res["containers"] == [] and not res.get("failed")


def test_systemd_mode_warns_when_docker_cannot_list_and_still_prunes_units(run_module, host):
    root, args, log = host
    fake_docker(root / "bin", root / "docker.log", ps_rc=1)
    res = run_module(prune_instances, args)
    assert res["removed"] == ["old"] and not res.get("failed")
    assert any("docker ps failed" in w for w in res["_warnings"])


def test_container_mode_needs_docker(run_module, host):
    root, args, log = host
    res = run_module(prune_instances, dict(args, mode="container"))
    assert res["failed"] and "docker" in res["msg"]
    assert (root / "units" / "old.service").exists()


def test_check_mode_reports_both_modes_and_removes_nothing(run_module, host):
    root, args, log = host
    fake_docker(root / "bin", root / "docker.log", "ct-keep\\tkeep\\n")
    res = run_module(prune_instances, args, check_mode=True)
    assert res["changed"] and res["removed"] == ["keep", "old"]
    assert not (root / "docker.log").exists() and not log.exists()
