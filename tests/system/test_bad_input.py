"""Bad role input fails before the host is touched, with a message that names the variable.

Each case runs the real entry point (site.yml) against a real, fresh systemd host and then checks
that nothing on the host changed. The rows run in one ansible-playbook run each table (see run_rows).
"""

import json

import pytest

from conftest import ansible_playbook, make_tls_files

# (variable set, the variable the error must name)
CASES = [
    ({"vllm_service_port": "abc"}, "vllm_service_port"),
    ({"vllm_service_port": 70000}, "vllm_service_port"),
    ({"vllm_service_port": 0}, "vllm_service_port"),
    ({"vllm_service_model": "", "vllm_service_model_src": ""}, "vllm_service_model"),
    ({"vllm_service_device": "tpu"}, "vllm_service_device"),
    ({"vllm_service_user": "root"}, "vllm_service_user"),
    ({"vllm_service_name": "bad name/x"}, "vllm_service_name"),
    ({"vllm_service_cpu_kvcache_space_gib": 0}, "vllm_service_cpu_kvcache_space_gib"),
    ({"vllm_service_health_timeout": -5}, "vllm_service_health_timeout"),
    ({"vllm_service_cuda_visible_devices": ["first"]}, "vllm_service_cuda_visible_devices"),
    ({"vllm_service_use_modelscope": "maybe"}, "vllm_service_use_modelscope"),
    ({"vllm_service_environment": "FOO"}, "vllm_service_environment"),
    ({"vllm_service_limit_nofile": "lots"}, "vllm_service_limit_nofile"),
    ({"uv_python_install_method": "curl"}, "uv_python_install_method"),
    ({"uv_python_version": "python3"}, "uv_python_version"),
    ({"uv_python_uv_version": "latest"}, "uv_python_uv_version"),
    ({"uv_python_install_method": "binary"}, "uv_python_binary_sha256"),
    ({"uv_python_offline": True, "uv_python_find_links": ""}, "uv_python_offline"),
    ({"uv_python_preference": "sometimes"}, "uv_python_preference"),
    ({"uv_python_extra_index_urls": {"a": 1}}, "uv_python_extra_index_urls"),
    ({"vllm_cpu_build_method": "magic"}, "vllm_cpu_build_method"),
    ({"vllm_service_instances": [{"name": "a", "port": 8000}, {"name": "b", "port": 8000}]}, "vllm_service_instances"),
    ({"vllm_service_instances": [{"name": "a", "port": 8000, "gpus": [0]}]}, "vllm_service_instances"),
    ({"vllm_service_instances": [{"name": "a", "port": 8000, "cpus": "all"}]}, "vllm_service_instances"),
    ({"vllm_service_cpus": 3.5}, "vllm_service_cpus"),
    ({"vllm_service_rollback_dir": "relative/dir"}, "vllm_service_rollback_dir"),
    ({"vllm_service_mode": "container", "vllm_service_model_predownload": True}, "vllm_service_model_predownload"),
    ({"vllm_service_model_predownload_on": "everywhere"}, "vllm_service_model_predownload_on"),
    ({"vllm_service_ca_bundle": "certs/proxy-ca.pem"}, "vllm_service_ca_bundle"),
    ({"vllm_service_ca_bundle": "/etc/ssl/certs/no-such-bundle.pem"}, "vllm_service_ca_bundle"),
    ({"vllm_service_model_predownload": True, "vllm_service_model_predownload_on": "controller",
      "vllm_service_use_modelscope": True}, "vllm_service_model_predownload_on"),
    # Values that would change the meaning of a unit, env file or path (each reached the host before).
    ({"vllm_service_instances": [{"name": "a", "port": 8000},
                                 {"name": "b", "port": 8001, "state_dir": "/tmp\nExecStartPre=+/usr/bin/touch /tmp/pwned\n#"}]},
     "vllm_service_instances"),
    ({"vllm_service_instances": [{"name": "..", "port": 8000}]}, "vllm_service_instances"),
    ({"vllm_service_name": "vllm\n"}, "vllm_service_name"),
    ({"vllm_service_cpus": "0-1\n"}, "vllm_service_cpus"),
    ({"vllm_service_environment": {"ZZZ\nVLLM_API_KEY": "x"}}, "vllm_service_environment"),
    ({"vllm_service_extra_args": ["--chat-template", "tmpl\r\nExecStartPre=/bin/true"]}, "vllm_service_extra_args"),
    ({"vllm_service_extra_args": ["--api-key", "s3cret"]}, "vllm_service_extra_args"),
    # The role pins the model's revision itself (a commit, from vllm_service_model_revision / the download).
    ({"vllm_service_extra_args": ["--revision", "main"]}, "vllm_service_extra_args"),
    ({"vllm_service_state_dir": "/var/lib"}, "vllm_service_state_dir"),
    ({"vllm_service_state_dir": "/var/lib/../../etc"}, "vllm_service_state_dir"),
    ({"vllm_service_host": "0.0.0.0\nExecStartPre=/bin/true"}, "vllm_service_host"),
    # An open server: every address, no API key, no opt-in (the message names the key and the opt-in too).
    ({"vllm_service_host": "0.0.0.0"}, "vllm_service_allow_unauthenticated"),
    ({"vllm_service_hf_endpoint": "http://hf-mirror.example"}, "vllm_service_hf_endpoint"),
    ({"vllm_service_lock_ttl": 30}, "vllm_service_lock_ttl"),
    # TLS: a certificate needs its key and the other way round; the files must be on the controller; vLLM's
    # --ssl-* flags belong to the variables (checked on the controller before the host is touched).
    ({"vllm_service_tls_cert_src": "/srv/tls/server.pem"}, "vllm_service_tls_key_src"),
    ({"vllm_service_instances": [{"name": "a", "port": 8000, "tls_key_src": "/srv/tls/server.key"}]},
     "vllm_service_instances[0] (a): tls_cert_src"),
    ({"vllm_service_tls_cert_src": "/nonexistent/server.pem", "vllm_service_tls_key_src": "/nonexistent/server.key"},
     "vllm_service_tls_cert_src"),
    ({"vllm_service_extra_args": ["--ssl-keyfile", "/etc/ssl/private/vllm.key"]}, "vllm_service_tls_key_src"),
    # The local apt repository (hosts without network): made by tools/debrepo.py, a plain path on the host.
    ({"apt_local_repo_src": "/nonexistent/debrepo"}, "apt_local_repo_src"),
    ({"apt_local_repo_dest": "/opt/../etc/apt"}, "apt_local_repo_dest"),
    ({"apt_local_repo_name": "local repo\n"}, "apt_local_repo_name"),
    # Container mode's image archive must be on the controller (checked there before the host changes).
    ({"vllm_service_mode": "container", "vllm_service_image_archive_src": "/nonexistent/vllm.tar"},
     "vllm_service_image_archive_src"),
]

# The same refusals when a role is used alone in a play with gather_facts: false.
ALONE = [
    ("llmops.vllm.uv_python", {"uv_python_uv_version": "latest"}, "uv_python_uv_version"),
    ("llmops.vllm.vllm_cpu_build", {"vllm_cpu_build_version": "newest"}, "vllm_cpu_build_version"),
    ("llmops.vllm.vllm_service", {"vllm_service_port": 0}, "vllm_service_port"),
    ("llmops.vllm.vllm_service", {"vllm_service_instances": [{"name": "..", "port": 8000}]}, "vllm_service_instances"),
    ("llmops.vllm.nvidia_driver", {"nvidia_driver_branch": "latest"}, "nvidia_driver_branch"),
    ("llmops.vllm.nvidia_driver", {"nvidia_driver_cuda_repo_url": "ftp://mirror/cuda/"}, "nvidia_driver_cuda_repo_url"),
    ("llmops.vllm.container_toolkit", {"container_toolkit_version": "1.17"}, "container_toolkit_version"),
    ("llmops.vllm.vllm_gpu", {"vllm_gpu_version": "newest"}, "vllm_gpu_version"),
    ("llmops.vllm.apt_local_repo", {"apt_local_repo_src": "/nonexistent/debrepo"}, "apt_local_repo_src"),
]


def host_untouched(host):
    """Nothing the roles would create exists, and no package was installed."""
    for path in ("/usr/local/bin/uv", "/opt/uv", "/opt/vllm", "/etc/vllm", "/var/lib/vllm",
                 "/etc/systemd/system/vllm.service"):
        rc = host.sh("test -e %s" % path)[0]
        assert rc != 0, "%s exists after a run that should have failed early" % path
    rc = host.sh("getent passwd vllm")[0]
    assert rc != 0, "the service user was created"
    status = host.sh("dpkg-query -W -f='${Status}' python3-venv 2>/dev/null")[1]
    assert not status.endswith(" installed"), "packages were installed"


def run_rows(host, tmp_path, playbook, rows, extra_vars=None):
    """One ansible-playbook run for every row: each row is its own inventory host (an alias of the
    same real container, with the row's variables as host variables), so the rows fail side by side
    instead of paying ansible-playbook's start-up once per row. Returns {alias: (stats, failed results)}.
    max_fail_percentage 100 keeps one row's refusal from ending the play for the rows still running."""
    aliases = {"row%02d" % i: row for i, row in enumerate(rows)}
    base = json.loads(host.inventory(tmp_path).read_text())["all"]["children"]["cpu_hosts"]["hosts"][host.name]
    alias_inventory = {alias: dict(base, **row) for alias, row in aliases.items()}
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"all": {"children": {"cpu_hosts": {"hosts": alias_inventory}}}}))
    res = ansible_playbook(playbook, path, dict(extra_vars or {}, vllm_rolling_max_fail_percentage=100),
                           extra_args=("--forks", str(len(rows))),
                           env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    assert res.returncode != 0, res.stdout[-3000:] + res.stderr[-3000:]
    host_untouched(host)  # after every row: they all ran on this one host
    report = json.loads(res.stdout[res.stdout.index("{"):])
    failed = {alias: [] for alias in aliases}
    for play in report["plays"]:
        for task in play["tasks"]:
            for alias, result in task["hosts"].items():
                if result.get("failed") and alias in failed:
                    failed[alias].append(json.dumps(result))
    return {alias: (report["stats"].get(alias, {}), failed[alias]) for alias in aliases}


def assert_refused(outcome, variable):
    stats, failures = outcome
    assert len(failures) == 1 and stats.get("failures") == 1, (stats, failures)
    assert stats.get("changed") == 0, stats
    assert variable in failures[0], failures[0]
    assert "has no attribute" not in failures[0], failures[0]  # not a crash on missing facts


@pytest.fixture(scope="module")
def tls_row(tmp_path_factory):
    """Valid TLS files (a private CA, a certificate for 127.0.0.1) for systemd mode on this test host, whose
    /run is private like any Docker container's: systemd's credentials (LoadCredential=), which carry the key
    to vLLM, need a shared /run (a host's systemd sets that up). Refused before the host changes."""
    tls = make_tls_files(str(tmp_path_factory.mktemp("tls")), alt_names=("IP:127.0.0.1",))
    return {"vllm_service_tls_cert_src": tls["cert"], "vllm_service_tls_key_src": tls["key"],
            "vllm_service_tls_ca_src": tls["ca"]}


@pytest.fixture(scope="module")
def site_rows(systemd_host, tmp_path_factory, tls_row):
    return run_rows(systemd_host, tmp_path_factory.mktemp("site"), "site.yml", [c[0] for c in CASES] + [tls_row],
                    extra_vars={"vllm_rolling_serial": "100%"})


@pytest.fixture(scope="module")
def alone_rows(systemd_host, tmp_path_factory):
    return run_rows(systemd_host, tmp_path_factory.mktemp("alone"), "tests/system/playbooks/one_role.yml",
                    [dict(c[1], one_role=c[0]) for c in ALONE])


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[1] + ":" + str(list(c[0].values())[-1])[:40] for c in CASES])
def test_bad_input_fails_early_naming_the_variable(site_rows, index):
    assert_refused(site_rows["row%02d" % index], CASES[index][1])


def test_tls_in_systemd_mode_on_a_private_run_is_refused(site_rows):
    outcome = site_rows["row%02d" % len(CASES)]  # the tls_row, after the table's rows
    assert_refused(outcome, "vllm_service_tls_cert_src")
    assert "mount --make-rshared /run" in outcome[1][0], outcome[1][0]


@pytest.mark.parametrize("index", range(len(ALONE)), ids=["%s:%s" % (c[0].split(".")[-1], c[2]) for c in ALONE])
def test_a_role_alone_without_facts_refuses_by_name(alone_rows, index):
    assert_refused(alone_rows["row%02d" % index], ALONE[index][2])
