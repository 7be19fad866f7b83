"""The vllm_service instance model: one place that validates the role's input and derives every field."""

import copy
import hashlib
import io
import json
import subprocess
import tarfile

import pytest

from ansible_collections.llmops.vllm.plugins.action.vllm_service_model import spec_defaults
from ansible_collections.llmops.vllm.plugins.filter.pin_model_revision import pin_model_revision
from ansible_collections.llmops.vllm.plugins.module_utils._instance_model import (
    INSTANCE_KEYS, SETTINGS, ModelError, build, credentials_mount_shared, pin,
)
from ansible_collections.llmops.vllm.tests.fixtures.standin_hub import make_tls_files

# The role's defaults (roles/vllm_service/defaults/main.yml) as the action plugin hands them over,
# but with allow_unauthenticated on: most rows are about other things (the exposure rows turn it off).
ROLE = {
    "name": "vllm", "port": 8000, "host": "0.0.0.0", "model": "Qwen/Qwen2.5-1.5B-Instruct", "model_src": "",
    "served_model_name": "", "extra_args": ["--max-model-len", "512"], "cuda_visible_devices": [], "cpus": "",
    "cpu_kvcache_space_gib": 4, "environment": {}, "state_dir": "/var/lib/vllm", "container_name": "vllm",
    "api_key": "",
    "instances": [], "mode": "systemd", "device": "cpu", "user": "vllm", "group": "vllm",
    "command": ["/opt/vllm/venv/bin/vllm", "serve"], "venv_path": "/opt/vllm/venv", "ld_preload": "",
    "cpu_omp_threads_bind": "auto", "use_modelscope": False, "usage_stats": False, "hf_token": "",
    "ca_bundle": "", "rollback": True, "rollback_dir": "/etc/vllm/last-good", "model_predownload": False,
    "model_predownload_on": "host", "model_revision": "main", "hf_endpoint": "",
    "controller_model_cache": "~/.cache/llmops-vllm/hf", "controller_ca_bundle": "",
    "image": "vllm/vllm-openai-cpu:v0.33.0", "ipc_host": True, "shm_size": "8g", "gpu_count": -1,
    "restart_policy": "unless-stopped", "limit_nofile": 65535, "restart_sec": 5, "health_timeout": 900,
    "max_restarts": 2, "predownload_poll_interval": 5, "predownload_timeout": 7200,
    "advertise_address": "host1.example", "verify_chat": True, "start_limit_burst": 10,
    "start_limit_interval_sec": 300, "oom_score_adjust": 500, "memory_max": "", "container_log_max_size": "50m",
    "container_log_max_files": 3, "allow_unauthenticated": True, "fastapi_docs": False, "allowed_origins": [],
}
# A setting added later gets the argument spec's default here, as the action plugin gives it.
ROLE.update({key: value for key, value in spec_defaults().items() if key in SETTINGS and key not in ROLE})


def model(**changes):
    settings = copy.deepcopy(ROLE)
    settings.update(changes)
    return build(settings, "host1", "/usr/bin/python3")


def instances(listed, **changes):
    return model(instances=listed, **changes)["instances"]


def test_the_fixture_covers_every_setting():
    assert set(ROLE) == set(SETTINGS)
    assert set(INSTANCE_KEYS) <= set(ROLE)


# ---- resolving the list -------------------------------------------------------------------------

def test_empty_list_is_the_single_role_level_instance():
    (inst,) = instances([])
    assert inst["name"] == "vllm" and inst["port"] == 8000 and inst["state_dir"] == "/var/lib/vllm"
    assert inst["extra_args"] if "extra_args" in inst else True


def test_port_given_as_text_becomes_a_number():
    assert instances([], port="8001")[0]["port"] == 8001


def test_instances_inherit_role_settings_and_get_their_own_dirs():
    out = instances([{"name": "chat", "port": 8000},
                     {"name": "code", "port": 8001, "model": "Qwen/Qwen2.5-Coder-1.5B", "cpus": "2-3",
                      "cuda_visible_devices": [1]}])
    assert [i["name"] for i in out] == ["chat", "code"]
    assert out[0]["model"] == ROLE["model"] and out[0]["argv"][-2:] == ROLE["extra_args"]
    assert out[0]["state_dir"] == "/var/lib/chat"
    assert out[1]["model"] == "Qwen/Qwen2.5-Coder-1.5B" and out[1]["env"]["VLLM_CPU_OMP_THREADS_BIND"] == "2-3"
    assert out[1]["unit_settings"]["cpu_affinity"] == "2-3" and out[1]["state_dir"] == "/var/lib/code"


def test_every_directory_in_order_root_ones_first_then_each_instances():
    m = model(instances=[{"name": "chat", "port": 8000}, {"name": "code", "port": 8001, "model_src": "/m/tiny"}],
              rollback_dir="/etc/vllm/good")
    root = [("/etc/vllm", "root", "0755"), ("/etc/vllm/good", "root", "0700"), ("/etc/vllm/secrets", "root", "0700")]
    assert [(d["path"], d["owner"], d["mode"]) for d in m["directories"][:3]] == root
    rest = m["directories"][3:]
    assert [d["path"] for d in rest] == m["instances"][0]["directories"] + m["instances"][1]["directories"]
    assert "/var/lib/code/models/tiny" in [d["path"] for d in rest]
    assert {(d["owner"], d["group"], d["mode"]) for d in rest} == {("vllm", "vllm", "0750")}
    # Container mode: the container runs as root, so root owns its state directories.
    ct = model(mode="container")
    assert {d["owner"] for d in ct["directories"]} == {"root"}


def test_lock_settings():
    assert (model()["lock_ttl"], model()["lock_break"]) == (7200, False)
    assert (model(lock_ttl="600", lock_break="yes")["lock_ttl"], model(lock_break="yes")["lock_break"]) == (600, True)


def test_gpu_ids_reach_the_environment_and_the_container():
    (inst,) = instances([{"name": "g", "port": 1, "cuda_visible_devices": [0, 1]}], device="gpu")
    assert inst["env"]["CUDA_VISIBLE_DEVICES"] == "0,1" and "VLLM_CPU_KVCACHE_SPACE" not in inst["env"]
    (ct,) = instances([{"name": "g", "port": 1, "cuda_visible_devices": [0, 1]}], device="gpu", mode="container")
    assert ct["container"]["device_requests"] == [{"driver": "nvidia", "capabilities": [["gpu"]], "device_ids": ["0", "1"]}]
    (allgpu,) = instances([], device="gpu", mode="container")
    assert allgpu["container"]["device_requests"][0]["count"] == -1 and allgpu["container"]["capabilities"] is None


def test_explicit_state_dir_and_container_name_win():
    (inst,) = instances([{"name": "a", "port": 1, "state_dir": "/data/a", "container_name": "ct-a"}], mode="container")
    assert inst["state_dir"] == "/data/a" and inst["container_name"] == "ct-a"


def test_settings_are_not_changed():
    settings = copy.deepcopy(ROLE)
    settings["instances"] = [{"name": "a", "port": 9000}]
    before = copy.deepcopy(settings)
    build(settings)
    assert settings == before


def test_vllm_style_cpu_groups_are_accepted():
    (inst,) = instances([{"name": "a", "port": 1, "cpus": "0-15|16-31"}])
    assert inst["env"]["VLLM_CPU_OMP_THREADS_BIND"] == "0-15|16-31"
    assert inst["unit_settings"]["cpu_affinity"] == "0-15,16-31"


# ---- derived fields -----------------------------------------------------------------------------

def test_systemd_instance_fields():
    (inst,) = instances([], served_model_name="tiny", api_key="k", hf_token="t", ca_bundle="/etc/ssl/ca.pem",
                        model_revision="v1", ld_preload="/usr/lib/libtcmalloc.so")
    assert inst["unit"] == "vllm.service" and inst["unit_path"] == "/etc/systemd/system/vllm.service"
    assert inst["env_file"] == "/etc/vllm/vllm.env"
    # the secrets have their own file, never kept as last good (a rollback keeps rotated keys)
    assert inst["secrets_file"] == "/etc/vllm/secrets/vllm.env"
    assert inst["secrets_file"] not in [f["path"] for f in inst["config_files"]]
    assert inst["unit_settings"]["read_write_paths"] == ["/var/lib/vllm"]
    assert inst["url"] == "http://127.0.0.1:8000" and inst["health_url"] == "http://127.0.0.1:8000/health"
    assert inst["argv"] == ["/opt/vllm/venv/bin/vllm", "serve", "--model", ROLE["model"], "--served-model-name", "tiny",
                            "--host", "0.0.0.0", "--port", "8000", "--revision", "v1", "--disable-fastapi-docs",
                            "--allowed-origins", "[]", "--shutdown-timeout", "120", "--max-model-len", "512"]
    assert inst["unit_settings"]["timeout_stop_sec"] == 150  # vLLM's drain, then 30 s before SIGKILL
    assert inst["secret_env"] == {"HF_TOKEN": "t", "VLLM_API_KEY": "k"}
    assert "VLLM_API_KEY" not in inst["env"] and "HF_TOKEN" not in inst["env"]
    assert inst["env"]["HOME"] == "/var/lib/vllm" and inst["env"]["TMPDIR"] == "/var/lib/vllm/tmp"
    assert inst["env"]["SSL_CERT_FILE"] == "/etc/ssl/ca.pem" and inst["env"]["LD_PRELOAD"] == "/usr/lib/libtcmalloc.so"
    assert inst["env"]["VLLM_NO_USAGE_STATS"] == "1" and "HF_HUB_OFFLINE" not in inst["env"]
    assert inst["config_files"] == [
        {"path": "/etc/systemd/system/vllm.service", "good": "/etc/vllm/last-good/vllm.service", "mode": "0644"},
        {"path": "/etc/vllm/vllm.env", "good": "/etc/vllm/last-good/vllm.env", "mode": "0600"}]
    assert inst["owner"] == "vllm" and "/var/lib/vllm/tmp" in inst["directories"]
    assert inst["download"] is None
    assert inst["health"] == {"timeout": 900, "max_restarts": 2, "chat_model": "tiny", "ca_path": "",
                              "plain_url": "http://127.0.0.1:8000/health", "tls_url": "https://127.0.0.1:8000/health"}
    assert inst["private_files"] == [{"dest": "/etc/vllm/secrets/vllm.env", "template": "vllm.secrets.env.j2", "src": "",
                                      "mode": "0600"}]
    assert inst["tls"] is None and inst["unit_settings"]["credentials"] == []
    assert inst["unit_settings"]["credential_args"] == []
    assert inst["unit_settings"]["start_limit_burst"] == 10 and inst["unit_settings"]["oom_score_adjust"] == 500
    assert inst["unit_settings"]["memory_max"] == ""


def test_chat_verification_can_be_turned_off():
    assert instances([], verify_chat=False)[0]["health"]["chat_model"] == ""


def test_staged_model_is_served_offline():
    (inst,) = instances([], model_src="/build/models/tiny-qwen2/", served_model_name="")
    assert inst["staged_model"] == "/var/lib/vllm/models/tiny-qwen2" == inst["model_ref"]
    assert inst["argv"][2:4] == ["--model", "/var/lib/vllm/models/tiny-qwen2"]
    assert inst["env"]["HF_HUB_OFFLINE"] == "1" and inst["served_model"] == inst["staged_model"]


def test_container_instance_fields():
    (inst,) = instances([], mode="container", model_src="/m/tiny", api_key="k", host="127.0.0.1", port=18100,
                        ipc_host=False, shm_size="2g", ca_bundle="/etc/ssl/certs/ca-certificates.crt")
    spec = inst["container"]
    assert spec["command"][:2] == ["--model", "/models/tiny"]
    assert spec["command"][spec["command"].index("--host") + 1] == "0.0.0.0"
    assert spec["published_ports"] == ["127.0.0.1:18100:8000"]
    assert spec["ipc_mode"] is None and spec["shm_size"] == "2g" and spec["capabilities"] == ["SYS_NICE"]
    assert "/etc/ssl/certs/ca-certificates.crt:/etc/llmops-vllm/ca-bundle.pem:ro" in spec["volumes"]
    assert spec["env"]["SSL_CERT_FILE"] == "/etc/llmops-vllm/ca-bundle.pem" and "VLLM_API_KEY" not in spec["env"]
    assert spec["labels"] == {"llmops.vllm.instance": "vllm"}
    assert spec["log_driver"] == "json-file" and spec["log_options"] == {"max-size": "50m", "max-file": "3"}
    assert spec["memory"] is None
    assert inst["owner"] == "root" and inst["unit"] is None and "argv" not in inst
    assert inst["private_files"] == []  # the secrets go to Docker's env (compared by docker_container)
    assert inst["config_files"] == [{"path": "/etc/vllm/vllm.container.json",
                                     "good": "/etc/vllm/last-good/vllm.container.json", "mode": "0600"}]


def test_endpoints_cover_every_instance():
    listed = [{"name": "a", "port": 8000}, {"name": "b", "port": 8001, "served_model_name": "bee", "host": "10.0.0.5"}]
    out = model(instances=listed)
    assert out["endpoints"] == [
        {"name": "a", "url": "http://127.0.0.1:8000", "public_url": "http://host1.example:8000",
         "address": "host1.example", "port": 8000, "model": ROLE["model"], "mode": "systemd",
         "unit": "a.service", "container": None, "tls": False, "ca_path": "", "controller_ca_path": ""},
        {"name": "b", "url": "http://10.0.0.5:8001", "public_url": "http://10.0.0.5:8001", "address": "10.0.0.5",
         "port": 8001, "model": "bee", "mode": "systemd", "unit": "b.service", "container": None, "tls": False,
         "ca_path": "", "controller_ca_path": ""}]
    assert out["names"] == ["a", "b"] and out["home"] == "/var/lib/a"


def test_ipv6_host_is_bracketed_in_the_url():
    assert instances([], host="::1")[0]["url"] == "http://[::1]:8000"


def test_per_instance_api_keys():
    out = instances([{"name": "a", "port": 1}, {"name": "b", "port": 2, "api_key": "kb"}], api_key="ka")
    assert [i["secret_env"]["VLLM_API_KEY"] for i in out] == ["ka", "kb"]


@pytest.mark.parametrize("where, expected", [
    ({"model_predownload": True},
     {"on_controller": False, "delegate_to": "host1", "cache": "/var/lib/vllm/hf", "python": "/opt/vllm/venv/bin/python",
      "progress_file": "/var/lib/vllm/tmp/model-download.json"}),
    ({"model_predownload": True, "model_predownload_on": "controller"},
     {"on_controller": True, "delegate_to": "localhost", "cache": "~/.cache/llmops-vllm/hf", "python": "/usr/bin/python3",
      "progress_file": "~/.cache/llmops-vllm/hf/progress/host1-vllm.json",
      "push_repo": "/var/lib/vllm/hf/hub/models--Qwen--Qwen2.5-1.5B-Instruct"}),
    ({"model_predownload": True, "use_modelscope": True}, {"cache": "/var/lib/vllm/modelscope", "source": "modelscope"}),
])
def test_download_plan(where, expected):
    download = instances([], **where)[0]["download"]
    for key, value in expected.items():
        assert download[key] == value, key


@pytest.mark.parametrize("where", [{"model_predownload": False}, {"model_predownload": True, "model_src": "/m/x"},
                                   {"model_predownload": True, "model": "/srv/models/x"}])
def test_nothing_to_download(where):
    assert instances([], **where)[0]["download"] is None


# ---- the model's revision: pinned to a commit, or said to float ---------------------------------

A = "a" * 40
B = "b" * 40


def revision_value(args):
    return args[args.index("--revision") + 1] if "--revision" in args else None


@pytest.mark.parametrize("changes, pinned_by, arg", [
    ({}, "none", None),                                                            # main floats: vLLM's default
    ({"model_revision": "v1"}, "none", "v1"),
    ({"model_predownload": True}, "download", None),                               # until the download says
    ({"model_predownload": True, "model_revision": "v1"}, "download", "v1"),
    ({"model_revision": A}, "given", A),                                           # a commit is used as it is
    ({"model_revision": A, "model_predownload": True}, "given", A),
    ({"use_modelscope": True, "model_predownload": True}, "none", None),           # no commit to pin
    ({"model_src": "/m/tiny", "model_revision": "v1"}, "local", None),             # a directory has no revision
    ({"model": "/srv/models/x", "model_revision": "v1"}, "local", None),
])
def test_what_pins_the_revision(changes, pinned_by, arg):
    for mode in ("systemd", "container"):
        if mode == "container" and changes.get("model_predownload"):
            if changes.get("use_modelscope"):
                continue  # refused: ModelScope downloads run on the hosts, in systemd mode
            changes = dict(changes, model_predownload_on="controller")
        (inst,) = instances([], mode=mode, **changes)
        args = inst["argv"] if mode == "systemd" else inst["container"]["command"]
        assert inst["revision"]["pin"] == pinned_by and revision_value(args) == arg, mode
        assert inst["revision"]["commit"] == (A if pinned_by == "given" else "")


def download_result(commit, **extra):
    return dict({"changed": False, "commit": commit, "repo_id": ROLE["model"], "source": "huggingface"}, **extra)


@pytest.mark.parametrize("changes", [
    {}, {"served_model_name": "tiny"}, {"model_revision": "v1"}, {"model_revision": "v1", "served_model_name": "t"},
    {"command": ["/usr/bin/env", "VLLM_X=1", "/opt/v/bin/vllm", "serve"]},
])
def test_the_download_pins_the_commit_where_the_revision_goes(changes):
    """The unit gets what a commit given as vllm_service_model_revision gives: --revision <commit> after --port."""
    as_given = dict(changes, model_revision=A)
    (inst,) = instances([], model_predownload=True, **changes)
    pinned = pin(inst, download_result(A))
    assert pinned["argv"] == instances([], **as_given)[0]["argv"]
    assert pinned["argv"][pinned["argv"].index("--port") + 2:][:2] == ["--revision", A]
    assert pinned["revision"] == dict(inst["revision"], commit=A, arg=A)
    assert pinned["restart_for_download"] is False
    # the same in container mode (the download runs on the controller there)
    (ct,) = instances([], mode="container", model_predownload=True, model_predownload_on="controller", **changes)
    expected = instances([], mode="container", **as_given)[0]["container"]["command"]
    assert pin(ct, download_result(A))["container"] == dict(ct["container"], command=expected)
    # the model itself is not changed (the task pins it again on every evaluation)
    assert revision_value(inst["argv"]) == (changes.get("model_revision") or None)


def test_a_moved_branch_changes_the_pin():
    (inst,) = instances([], model_predownload=True)
    assert revision_value(pin(inst, download_result(A))["argv"]) == A
    assert revision_value(pin(inst, download_result(B, changed=True))["argv"]) == B


@pytest.mark.parametrize("download", [
    {},                                                                 # no download ran
    {"skipped": True, "changed": False},                                # check mode on a fresh host
    {"failed": True, "commit": A, "repo_id": ROLE["model"]},
    download_result(None),                                              # check mode, hub and cache both missing
    download_result("not-a-commit"),
    download_result(A, repo_id="other/model"),                          # another instance's result
])
def test_no_commit_for_this_instance_leaves_it_as_it_is(download):
    (inst,) = instances([], model_predownload=True)
    assert pin(inst, download) == dict(inst, restart_for_download=False)


@pytest.mark.parametrize("changes", [{}, {"model_src": "/m/tiny"}, {"model_revision": A}])
def test_only_a_download_that_pins_changes_the_argv(changes):
    (inst,) = instances([], **dict({"model_predownload": True}, **changes))
    if inst["download"] is None:
        assert pin(inst, download_result(B)) == dict(inst, restart_for_download=False)
    else:
        assert revision_value(pin(inst, download_result(B))["argv"]) in (B, A)


def test_a_given_commit_is_not_replaced_by_the_download():
    (inst,) = instances([], model_predownload=True, model_revision=A)
    assert pin(inst, download_result(A))["argv"] == inst["argv"]


def test_modelscope_restarts_when_its_download_changed_the_files():
    (inst,) = instances([], model_predownload=True, use_modelscope=True)
    changed = {"changed": True, "commit": None, "repo_id": ROLE["model"], "source": "modelscope"}
    assert pin(inst, changed)["restart_for_download"] is True
    assert pin(inst, dict(changed, changed=False))["restart_for_download"] is False
    assert pin(inst, changed)["argv"] == inst["argv"]
    # Hugging Face: files fetched again for the same commit change nothing the server runs
    (hf,) = instances([], model_predownload=True)
    assert pin(hf, download_result(A, changed=True))["restart_for_download"] is False


def test_the_filter_is_the_same_function():
    (inst,) = instances([], model_predownload=True)
    assert pin_model_revision(inst, download_result(A)) == pin(inst, download_result(A))
    assert pin_model_revision(inst, None) == dict(inst, restart_for_download=False)


@pytest.mark.parametrize("changes, warned", [
    ({}, True),
    ({"model_revision": "v1"}, True),
    ({"model_predownload": True}, False),
    ({"model_revision": A}, False),
    ({"model_src": "/m/tiny"}, False),
    ({"use_modelscope": True}, False),
    ({"instances": [{"name": "a", "port": 1, "model_src": "/m/tiny"}, {"name": "b", "port": 2}]}, True),
])
def test_a_floating_hub_revision_is_warned_about(changes, warned):
    notes = model(**changes)["warnings"]
    assert bool(notes) == warned
    if warned:
        assert "vllm_service_model_predownload" in notes[0] and ROLE["model"] in notes[0]


# ---- exposure: an open server must be asked for -------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"api_key": "k"},                                     # a key
    {"allow_unauthenticated": True},                      # the explicit opt-in
    {"host": "127.0.0.1"}, {"host": "127.8.0.1"}, {"host": "::1"}, {"host": "localhost"},  # loopback
    {"host": "127.0.0.1", "mode": "container"},
    {"instances": [{"name": "a", "port": 1, "api_key": "ka"}, {"name": "b", "port": 2, "host": "127.0.0.1"}]},
])
def test_a_server_without_a_key_is_accepted_on_loopback_or_when_asked_for(changes):
    assert model(**dict({"allow_unauthenticated": False}, **changes))["instances"]


@pytest.mark.parametrize("changes, message", [
    ({}, r"^vllm_service_host is '0\.0\.0\.0' \(reachable from other machines\) and the server has no API key"),
    ({"host": ""}, r"^vllm_service_host is '0\.0\.0\.0'"),
    ({"host": "10.0.0.5"}, r"^vllm_service_host is '10\.0\.0\.5'"),
    ({"host": "::"}, r"^vllm_service_host is '::'"),
    ({"mode": "container"}, r"^vllm_service_host is '0\.0\.0\.0'"),
    ({"api_key": "k", "instances": [{"name": "a", "port": 1}, {"name": "b", "port": 2, "api_key": ""}]},
     r"^vllm_service_instances\[1\] \(b\): host is '0\.0\.0\.0'"),
    ({"allow_unauthenticated": "no"}, r"^vllm_service_host is"),
])
def test_an_open_server_is_refused_naming_the_options(changes, message):
    with pytest.raises(ModelError, match=message) as err:
        model(**dict({"allow_unauthenticated": False}, **changes))
    for option in ("vllm_service_api_key", "api_key", "vllm_service_host", "vllm_service_allow_unauthenticated"):
        assert option in str(err.value)


def test_a_plain_mistake_in_the_list_is_reported_before_the_exposure():
    with pytest.raises(ModelError, match="port 1 is already used"):
        model(allow_unauthenticated=False, instances=[{"name": "a", "port": 1}, {"name": "b", "port": 1}])


# ---- web surface: no docs, no cross-origin browser access by default ----------------------------

def test_docs_off_and_no_origins_by_default_in_both_modes():
    (inst,) = instances([])
    assert inst["argv"][inst["argv"].index("--allowed-origins") + 1] == "[]"
    assert "--disable-fastapi-docs" in inst["argv"]
    (ct,) = instances([], mode="container")
    assert "--disable-fastapi-docs" in ct["container"]["command"]
    assert ct["container"]["command"][ct["container"]["command"].index("--allowed-origins") + 1] == "[]"


def test_docs_and_origins_when_asked_for():
    (inst,) = instances([], fastapi_docs=True, allowed_origins=["https://app.example", "http://[::1]:3000", "*"])
    assert "--disable-fastapi-docs" not in inst["argv"]
    assert inst["argv"][inst["argv"].index("--allowed-origins") + 1] == '["https://app.example","http://[::1]:3000","*"]'


@pytest.mark.parametrize("endpoint", ["https://hf-mirror.example", "https://hf-mirror.example:8443/hub/",
                                      "http://127.0.0.1:8090", "http://localhost:8090", "http://[::1]:8090", ""])
def test_hub_mirrors_that_are_accepted(endpoint):
    inst = instances([], hf_endpoint=endpoint, model_predownload=True)[0]
    assert inst["env"].get("HF_ENDPOINT", "") == endpoint and inst["download"]["endpoint"] == endpoint


# ---- bad input: every row fails before the host changes, naming the variable --------------------

BAD_INSTANCES = [
    ([{"port": 8000}], r"\[0\]: name is required"),
    ([{"name": "a"}], r"\[0\] \(a\): port is required"),
    ([{"name": "a", "port": 8000, "prot": 1}], r"unknown key\(s\) prot"),
    ([{"name": "a b", "port": 8000}], "valid unit name"),
    ([{"name": "a", "port": 70000}], "port must be 1-65535, got 70000"),
    ([{"name": "a", "port": "x"}], "port must be a number"),
    ([{"name": "a", "port": 8000}, {"name": "a", "port": 8001}], r"\[1\] \(a\): name a is already used by instance \[0\]"),
    ([{"name": "a", "port": 8000}, {"name": "b", "port": 8000}], r"\[1\] \(b\): port 8000 is already used"),
    ([{"name": "a", "port": 8000, "cpus": "0-3;5"}], "cpus must be CPU ids"),
    ([{"name": "a", "port": 8000, "extra_args": "--x"}], "extra_args must be a list"),
    ([{"name": "a", "port": 8000, "model": " "}], "model \\(or model_src\\) must name a model"),
    (["a"], r"\[0\]: must be a dictionary"),
    # injection and traversal (each of these reached the host before)
    ([{"name": "a", "port": 1, "state_dir": "/tmp\nExecStartPre=+/usr/bin/touch /tmp/x\n#"}], "state_dir must not contain control"),
    ([{"name": "..", "port": 1}], "valid unit name"),
    ([{"name": ".", "port": 1}], "valid unit name"),
    ([{"name": "a\n", "port": 1}], "valid unit name"),
    ([{"name": "a", "port": 1, "cpus": "0-3\n"}], "cpus must"),
    ([{"name": "a", "port": 1, "environment": {"ZZZ\nVLLM_API_KEY": "x"}}], "is not an environment variable name"),
    ([{"name": "a", "port": 1, "environment": {"A": "x\ny"}}], r"environment\.A must not contain control"),
    ([{"name": "a", "port": 1, "extra_args": ["--chat-template", "{{ x }}\r\n"]}], "extra_args must not contain control"),
    ([{"name": "a", "port": 1, "state_dir": "/var/lib/../etc"}], r"state_dir must not contain '\.' or '\.\.'"),
    ([{"name": "a", "port": 1, "state_dir": "/var/lib"}], "state_dir must be a directory of its own"),
    ([{"name": "a", "port": 1, "state_dir": "var/lib/a"}], "state_dir must be an absolute path"),
    ([{"name": "a", "port": 1, "state_dir": "/srv/a b"}], "state_dir must be a path of letters"),
    ([{"name": "a", "port": 1, "host": "0.0.0.0\nExecStartPre=x"}], "host must not contain control"),
    ([{"name": "a", "port": 1, "host": "a b"}], "host must be an IP address"),
    ([{"name": "a", "port": 1, "container_name": "-x"}], "container_name must be a container name"),
    ([{"name": "a", "port": 1, "extra_args": ["--api-key", "s3cret"]}], "must not carry --api-key"),
    ([{"name": "a", "port": 1, "extra_args": ["--hf-token=s3cret"]}], "must not carry --hf-token"),
    ([{"name": "a", "port": 1, "cuda_visible_devices": ["0,1"]}], "cuda_visible_devices must hold GPU"),
    ([{"name": "a", "port": 1, "model": "org/../../etc"}], "model must not contain '..'"),
    ([{"name": "a", "port": 1, "api_key": "k\n"}], "api_key must not contain control"),
    ([{"name": "a", "port": 1, "environment": {"VLLM_API_KEY": "x"}}], "must not set VLLM_API_KEY"),
    ([{"name": "a", "port": 1, "extra_args": ["--allowed-origins=[]"]}], "must not carry --allowed-origins"),
    ([{"name": "a", "port": 1, "extra_args": ["--revision", "main"]}],
     "must not carry --revision: the role sets it from vllm_service_model_revision"),
    ([{"name": "a", "port": 1, "extra_args": ["--shutdown-timeout=5"]}],
     "must not carry --shutdown-timeout: the role sets it from vllm_service_shutdown_timeout"),
    ([{"name": "a", "port": 1, "shutdown_timeout": -1}], r"shutdown_timeout must be 0-86400"),
    ([{"name": "a", "port": 1, "shutdown_timeout": "2m"}], r"\(a\): shutdown_timeout must be a number"),
]


@pytest.mark.parametrize("listed, message", BAD_INSTANCES)
def test_bad_entries_are_named(listed, message):
    with pytest.raises(ModelError, match=r"^vllm_service_instances.*" + message):
        instances(listed)


BAD_ROLE = [
    ({"cpus": "3.5"}, r"^vllm_service_cpus must be CPU ids"),
    ({"port": 0}, r"^vllm_service_port must be 1-65535"),
    ({"name": ".."}, r"^vllm_service_name must be a valid unit name"),
    ({"state_dir": "/tmp\nExecStartPre=+/usr/bin/touch /tmp/x\n#"}, r"^vllm_service_state_dir must not contain control"),
    ({"model": "", "model_src": ""}, r"^vllm_service_model \(or model_src\) must name a model"),
    ({"command": []}, r"^vllm_service_command must not be empty"),
    ({"user": "root"}, r"^vllm_service_user must not be root"),
    ({"user": "v llm"}, r"^vllm_service_user must be a user/group name"),
    ({"cpu_kvcache_space_gib": 0}, r"^vllm_service_cpu_kvcache_space_gib must be at least 1"),
    ({"health_timeout": 0}, r"^vllm_service_health_timeout must be at least 1"),
    ({"predownload_timeout": 0}, r"^vllm_service_predownload_timeout must be at least 1"),
    ({"ca_bundle": "certs/ca.pem"}, r"^vllm_service_ca_bundle must be an absolute path"),
    ({"rollback_dir": "last-good"}, r"^vllm_service_rollback_dir must be an absolute path"),
    ({"rollback_dir": "/etc"}, r"^vllm_service_rollback_dir must be a directory of its own"),
    ({"mode": "podman"}, r"^vllm_service_mode must be systemd or container"),
    ({"advertise_address": "a b"}, r"^vllm_service_advertise_address must be an IP address"),
    ({"memory_max": "lots"}, r"^vllm_service_memory_max must be bytes"),
    ({"memory_max": "50%", "mode": "container"}, r"^vllm_service_memory_max must be bytes .* in container mode"),
    ({"oom_score_adjust": 2000}, r"^vllm_service_oom_score_adjust must be -1000-1000"),
    ({"container_log_max_size": "1 GB"}, r"^vllm_service_container_log_max_size must be a size"),
    ({"model_revision": "main\nx"}, r"^vllm_service_model_revision must not contain control"),
    ({"model_revision": "../x"}, r"^vllm_service_model_revision must be a branch"),
    ({"hf_token": "t\r"}, r"^vllm_service_hf_token must not contain control"),
    ({"environment": {"1A": "x"}}, r"^vllm_service_environment: '1A' is not"),
    ({"extra_args": ["--api-key", "x"]}, r"^vllm_service_extra_args must not carry --api-key"),
    ({"extra_args": ["--allowed-origins", '["*"]']},
     r"^vllm_service_extra_args must not carry --allowed-origins: the role sets it from vllm_service_allowed_origins"),
    ({"extra_args": ["--disable-fastapi-docs"]}, r"^vllm_service_extra_args must not carry --disable-fastapi-docs"),
    ({"extra_args": ["--revision=v2"]}, r"^vllm_service_extra_args must not carry --revision"),
    ({"allowed_origins": "*"}, r"^vllm_service_allowed_origins must be a list"),
    ({"allowed_origins": ["https://app.example/path"]}, r"^vllm_service_allowed_origins must hold origins"),
    ({"allowed_origins": ["app.example"]}, r"^vllm_service_allowed_origins must hold origins"),
    ({"hf_endpoint": "http://hf-mirror.example"}, r"^vllm_service_hf_endpoint must be an https:// URL \(the Hugging"),
    ({"hf_endpoint": "http://10.0.0.5:8080"}, r"^vllm_service_hf_endpoint must be an https:// URL"),
    ({"hf_endpoint": "ftp://mirror.example"}, r"^vllm_service_hf_endpoint must be an https:// URL"),
    ({"hf_endpoint": "https://mirror.example/a b"}, r"^vllm_service_hf_endpoint must be an https:// URL"),
    ({"model_predownload": True, "mode": "container"}, r"model_predownload_on=host works in systemd mode"),
    ({"model_predownload": True, "model_predownload_on": "controller", "use_modelscope": True},
     r"controller fetches Hugging Face ids only"),
    ({"lock_ttl": 30}, r"^vllm_service_lock_ttl must be at least 60, got 30"),
    ({"lock_ttl": "soon"}, r"^vllm_service_lock_ttl must be a number"),
]


@pytest.mark.parametrize("changes, message", BAD_ROLE)
def test_bad_role_settings_are_named(changes, message):
    with pytest.raises(ModelError, match=message):
        model(**changes)


def test_missing_settings_are_reported():
    settings = dict(ROLE)
    del settings["image"]
    with pytest.raises(ModelError, match="settings lack image"):
        build(settings)


# ---- TLS -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A private CA and a server certificate for 127.0.0.1 and host1.example (what the health wait on the
    host and the controller ask for); a second, unrelated CA and pair; a certificate for a DNS name only;
    an encrypted key."""
    root = tmp_path_factory.mktemp("tls")
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "dns").mkdir()
    files = {"a": make_tls_files(str(root / "a"), alt_names=("IP:127.0.0.1", "DNS:host1.example")),
             "b": make_tls_files(str(root / "b")),
             "dns": make_tls_files(str(root / "dns"), alt_names=("DNS:host1.example",))}
    encrypted = root / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", files["a"]["key"], "-aes128", "-passout", "pass:x", "-out", str(encrypted)],
                   check=True, capture_output=True)
    files["encrypted_key"] = str(encrypted)
    return files


def with_tls(pair, **changes):
    return dict({"tls_cert_src": pair["cert"], "tls_key_src": pair["key"], "tls_ca_src": pair["ca"]}, **changes)


def test_tls_serves_https_with_the_key_as_a_systemd_credential(tls):
    out = model(**with_tls(tls["a"]))
    (inst,) = out["instances"]
    assert inst["url"] == "https://127.0.0.1:8000" and inst["health_url"] == "https://127.0.0.1:8000/health"
    assert inst["public_url"] == "https://host1.example:8000"
    assert inst["tls"]["files"] == [
        {"src": tls["a"]["cert"], "dest": "/etc/vllm/vllm.tls.crt", "mode": "0644"},
        {"src": tls["a"]["key"], "dest": "/etc/vllm/secrets/vllm.tls.key", "mode": "0600"},
        {"src": tls["a"]["ca"], "dest": "/etc/vllm/vllm.tls-ca.pem", "mode": "0644"}]
    # one private_file task writes them with the secrets file (no checksum or diff in any result)
    assert inst["private_files"][1:] == [dict(f, template="") for f in inst["tls"]["files"]]
    # systemd reads the root-only files; the server gets copies in its credentials directory (%d)
    assert inst["unit_settings"]["credentials"] == [{"id": "tls.crt", "path": "/etc/vllm/vllm.tls.crt"},
                                                    {"id": "tls.key", "path": "/etc/vllm/secrets/vllm.tls.key"}]
    assert inst["unit_settings"]["credential_args"] == ["--ssl-certfile", "%d/tls.crt", "--ssl-keyfile", "%d/tls.key"]
    assert not [a for a in inst["argv"] if a.startswith("--ssl")]
    assert inst["health"]["ca_path"] == "/etc/vllm/vllm.tls-ca.pem"
    # the TLS files are not part of the last good copy (a rollback keeps the current key, like the other secrets)
    assert [f["path"] for f in inst["config_files"]] == ["/etc/systemd/system/vllm.service", "/etc/vllm/vllm.env"]
    assert out["endpoints"][0]["tls"] is True
    assert out["endpoints"][0]["ca_path"] == "/etc/vllm/vllm.tls-ca.pem"
    assert out["endpoints"][0]["controller_ca_path"] == tls["a"]["ca"]


def test_tls_in_a_container_mounts_the_files_read_only(tls):
    (inst,) = instances([], mode="container", host="127.0.0.1", **with_tls(tls["a"]))
    spec = inst["container"]
    assert "/etc/vllm/vllm.tls.crt:/etc/llmops-vllm/tls/tls.crt:ro" in spec["volumes"]
    assert "/etc/vllm/secrets/vllm.tls.key:/etc/llmops-vllm/tls/tls.key:ro" in spec["volumes"]
    assert spec["command"][-4:] == ["--ssl-certfile", "/etc/llmops-vllm/tls/tls.crt",
                                    "--ssl-keyfile", "/etc/llmops-vllm/tls/tls.key"]
    assert inst["health_url"] == "https://127.0.0.1:8000/health"
    assert [f["dest"] for f in inst["private_files"]] == [
        "/etc/vllm/vllm.tls.crt", "/etc/vllm/secrets/vllm.tls.key", "/etc/vllm/vllm.tls-ca.pem"]


def test_tls_is_per_instance_and_without_a_ca_the_system_store_is_used(tls):
    a, b = instances([dict({"name": "a", "port": 8000}, **with_tls(tls["a"], tls_ca_src="")),
                      {"name": "b", "port": 8001}])
    assert a["url"] == "https://127.0.0.1:8000" and a["tls"]["ca_path"] == "" and a["health"]["ca_path"] == ""
    assert [f["dest"] for f in a["tls"]["files"]] == ["/etc/vllm/a.tls.crt", "/etc/vllm/secrets/a.tls.key"]
    assert b["url"] == "http://127.0.0.1:8001" and b["tls"] is None


def test_a_server_on_a_specific_address_needs_a_certificate_for_it(tls):
    (inst,) = instances([], host="127.0.0.1", **with_tls(tls["a"]))
    assert inst["health_url"] == "https://127.0.0.1:8000/health"
    with pytest.raises(ModelError, match=r"^vllm_service_tls_cert_src .*asks for 10\.0\.0\.5 refuses it.*"
                                         r"must name 10\.0\.0\.5 and be signed by vllm_service_tls_ca_src"):
        model(host="10.0.0.5", **with_tls(tls["a"]))


@pytest.mark.parametrize("changes,message", [
    (lambda t: {"tls_cert_src": t["a"]["cert"]},
     r"^vllm_service_tls_cert_src is set but vllm_service_tls_key_src is not"),
    (lambda t: {"tls_key_src": t["a"]["key"]},
     r"^vllm_service_tls_key_src is set but vllm_service_tls_cert_src is not"),
    (lambda t: {"tls_ca_src": t["a"]["ca"]},
     r"^vllm_service_tls_ca_src is set but the server has no certificate: set vllm_service_tls_cert_src"),
    (lambda t: with_tls(t["a"], tls_cert_src="/nonexistent/server.pem"),
     r"^vllm_service_tls_cert_src: '/nonexistent/server.pem' is not a file on the controller"),
    (lambda t: with_tls(t["a"], tls_ca_src="relative/ca.pem"),
     r"^vllm_service_tls_ca_src: 'relative/ca.pem' is not a file on the controller"),
    (lambda t: with_tls(t["a"], tls_key_src=t["b"]["key"]),
     r"^vllm_service_tls_key_src .*: the certificate and the private key do not fit together"),
    (lambda t: with_tls(t["a"], tls_key_src=t["encrypted_key"]),
     r"^vllm_service_tls_key_src .*: the private key is encrypted; vLLM takes no key password"),
    (lambda t: with_tls(t["a"], tls_ca_src=t["a"]["key"]),
     r"^vllm_service_tls_ca_src .*: not a PEM file of CA certificates"),
    # signed by another CA than the one the clients are told to trust
    (lambda t: with_tls(t["a"], tls_ca_src=t["b"]["ca"]),
     r"^vllm_service_tls_cert_src .*a client that trusts the CA and asks for 127\.0\.0\.1 refuses it: .*"
     r"on the host itself \(the server listens on every address\)"),
    # the health wait on the host asks 127.0.0.1, which a certificate for a DNS name does not cover
    (lambda t: with_tls(t["dns"]), r"^vllm_service_tls_cert_src .*asks for 127\.0\.0\.1 refuses it: .*mismatch"),
    (lambda t: with_tls(t["dns"], tls_ca_src=""),
     r"^vllm_service_tls_cert_src .*a client that trusts the certificate itself and asks for 127\.0\.0\.1 refuses.*"
     r"a CA in the system's trust store \(or set vllm_service_tls_ca_src\)"),
    (lambda t: {"instances": [{"name": "a", "port": 1, "tls_key_src": t["a"]["key"]}]},
     r"^vllm_service_instances\[0\] \(a\): tls_key_src is set but vllm_service_instances\[0\] \(a\): tls_cert_src is not"),
])
def test_bad_tls_settings_are_named(tls, changes, message):
    with pytest.raises(ModelError, match=message):
        model(**changes(tls))


@pytest.mark.parametrize("arg,flag", [
    (["--ssl-keyfile", "/k"], "--ssl-keyfile"),
    (["--ssl_certfile=/c"], "--ssl_certfile"),
    (["--ssl-ca-certs", "/ca"], "--ssl-ca-certs"),
    (["--ssl-cert-reqs", "2"], "--ssl-cert-reqs"),
])
def test_tls_flags_in_extra_args_point_to_the_variables(arg, flag):
    with pytest.raises(ModelError, match=r"^vllm_service_extra_args must not carry %s: the role sets up TLS from "
                                         r"vllm_service_tls_cert_src, vllm_service_tls_key_src and "
                                         r"vllm_service_tls_ca_src" % flag):
        model(extra_args=arg)


@pytest.mark.parametrize("arg,flag", [
    ("--api_key=s3cret", "--api-key"),   # vLLM's parser turns _ into -
    ("--api-k", "--api-key"),            # argparse takes unique prefixes
    ("--hf_token", "--hf-token"),
    ("--allowed_origins=[\"*\"]", "--allowed-origins"),
])
def test_spellings_vllm_accepts_do_not_slip_past_the_refusals(arg, flag):
    with pytest.raises(ModelError, match=r"^vllm_service_extra_args must not carry %s" % flag):
        model(extra_args=[arg, "x"])


def test_other_flags_pass():
    (inst,) = instances([], extra_args=["--api-server-count", "2", "--enable-ssl-refresh", "--max-model-len=512"])
    assert inst["argv"][-4:] == ["--api-server-count", "2", "--enable-ssl-refresh", "--max-model-len=512"]


# /proc/self/mountinfo lines as a Docker systemd test host has them (/run private), the same after
# `mount --make-rshared /run`, and as a host's systemd sets them up (everything shared).
CONTAINER_MOUNTS = """778 297 0:44 / / rw,relatime master:54 - overlay overlay rw,lowerdir=/x
785 778 0:55 / /run rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
850 785 0:84 / /run/lock rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
"""
HOST_MOUNTS = """27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
24 27 0:6 / /run rw,nosuid,nodev,relatime shared:12 - tmpfs tmpfs rw,mode=755
87 24 0:40 / /run/credentials/other.service ro,nosuid,nodev,noexec,relatime - ramfs ramfs rw,mode=700
"""


@pytest.mark.parametrize("mountinfo,shared", [
    (CONTAINER_MOUNTS, False),
    (CONTAINER_MOUNTS.replace("relatime - tmpfs tmpfs rw\n850", "relatime shared:30 - tmpfs tmpfs rw\n850"), True),
    (HOST_MOUNTS, True),  # another unit's credentials mount is not the one holding /run/credentials
    ("27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n", True),  # /run not a mount of its own
    ("", False),
])
def test_systemd_credentials_need_a_shared_run(mountinfo, shared):
    assert credentials_mount_shared(mountinfo) is shared


# ---- draining: vLLM's --shutdown-timeout, the stop timeouts that cover it, the routers to drain through ----

def test_shutdown_timeout_per_instance_reaches_vllm_systemd_and_docker():
    listed = [{"name": "a", "port": 1}, {"name": "b", "port": 2, "shutdown_timeout": 0}]
    a, b = instances(listed, shutdown_timeout=90)
    assert a["argv"][a["argv"].index("--shutdown-timeout") + 1] == "90" and a["unit_settings"]["timeout_stop_sec"] == 120
    assert b["argv"][b["argv"].index("--shutdown-timeout") + 1] == "0" and b["unit_settings"]["timeout_stop_sec"] == 30
    (ct,) = instances([], mode="container", shutdown_timeout=90)
    command = ct["container"]["command"]
    assert command[command.index("--shutdown-timeout") + 1] == "90" and ct["container"]["stop_timeout"] == 120


@pytest.mark.parametrize("routers, expected", [
    ([], []), (None, []), (["r1", "r2", "r1"], ["r1", "r2"]), ((" r1 ",), ["r1"]),
])
def test_drain_routers(routers, expected):
    assert model(drain_routers=routers)["drain_routers"] == expected


@pytest.mark.parametrize("routers, message", [
    ("r1", "must be a list of router hosts"),
    (["r1\nx"], "must not contain control characters"),
    ([""], "must not hold an empty host name"),
    ([["r1"]], "must be a string"),
])
def test_bad_drain_routers_are_named(routers, message):
    with pytest.raises(ModelError, match="^vllm_service_drain_routers %s" % message if "list" in message or "empty" in message
                       else "^vllm_service_drain_routers must"):
        model(drain_routers=routers)


# ---- the host firewall (vllm_service_allowed_clients) -------------------------------------------

def test_firewall_covers_every_instance_port():
    m = model(instances=[{"name": "a", "port": 8000}, {"name": "b", "port": 8001}],
              allowed_clients=["fleet-router", "10.0.0.0/8"])
    assert m["firewall"] == {"clients": ["fleet-router", "10.0.0.0/8"], "names": ["fleet-router"], "ports": [8000, 8001]}
    assert model()["firewall"] is None


@pytest.mark.parametrize("changes, message", [
    ({"allowed_clients": ["a b"]}, "^vllm_service_allowed_clients: 'a b' is not a host name"),
    ({"allowed_clients": "router"}, "^vllm_service_allowed_clients must be a list"),
    ({"allowed_clients": ["router"], "mode": "container"}, "^vllm_service_allowed_clients works in systemd mode"),
])
def test_bad_firewall_settings_are_named(changes, message):
    with pytest.raises(ModelError, match=message):
        model(**changes)


# ---- container mode's image from an archive on the controller ------------------------------------

def _save_archive(path, tags):
    """A `docker save` archive in the legacy layout (tests/unit/plugins/module_utils/test_docker_archive.py)."""
    config = b'{"architecture": "amd64", "os": "linux"}'
    name = hashlib.sha256(config).hexdigest() + ".json"
    with tarfile.open(path, "w") as tar:
        for member, data in ((name, config),
                             ("manifest.json", json.dumps([{"Config": name, "RepoTags": tags, "Layers": []}]).encode())):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return "sha256:" + name[:-5]


def test_an_image_archive_is_read_on_the_controller_and_its_directory_is_roots(tmp_path):
    image_id = _save_archive(tmp_path / "vllm.tar", ["vllm/vllm-openai-cpu:v0.33.0"])
    out = model(mode="container", image_archive_src=str(tmp_path / "vllm.tar"))
    assert out["image_archive"] == {"src": str(tmp_path / "vllm.tar"), "dest": "/var/lib/llmops-vllm/images/vllm.tar",
                                    "ids": [image_id], "tags": ["vllm/vllm-openai-cpu:v0.33.0"]}
    assert {"path": "/var/lib/llmops-vllm/images", "owner": "root", "group": "root", "mode": "0700"} in out["directories"]
    # systemd mode pulls nothing: the archive is not read (not even looked for)
    assert model(image_archive_src="/no/such.tar")["image_archive"] is None
    assert model(mode="container")["image_archive"] is None


@pytest.mark.parametrize("tags, src, message", [
    (["vllm/vllm-openai-cpu:v0.32.0"], "vllm.tar", "holds vllm/vllm-openai-cpu:v0.32.0, not vllm_service_image"),
    ([], "vllm.tar", "holds untagged images only, not vllm_service_image"),
    (["vllm/vllm-openai-cpu:v0.33.0"], "missing.tar", "vllm_service_image_archive_src: no such file on the controller"),
])
def test_an_archive_without_the_image_is_refused_by_name(tmp_path, tags, src, message):
    _save_archive(tmp_path / "vllm.tar", tags)
    with pytest.raises(ModelError, match=message):
        model(mode="container", image_archive_src=str(tmp_path / src))


def test_a_file_that_is_no_image_archive_is_refused_by_name(tmp_path):
    (tmp_path / "notes.tar").write_text("not a tar")
    with pytest.raises(ModelError, match="vllm_service_image_archive_src: .* is not a readable docker save archive"):
        model(mode="container", image_archive_src=str(tmp_path / "notes.tar"))


# ---- one instance across several hosts (WIP, issue 14) -------------------------------------------

GROUP = {"members": ["node-a", "node-b"], "addresses": {"node-a": "10.0.0.1", "node-b": "10.0.0.2"}}


def multinode_model(node, **changes):
    settings = copy.deepcopy(ROLE)
    settings.update(dict(multinode_group="big", tensor_parallel_size=2, multinode_interface="eth0"), **changes)
    return build(settings, node, "/usr/bin/python3", group_nodes=GROUP)


def test_the_head_serves_and_the_worker_is_headless_with_the_same_parallel_flags():
    head, worker = multinode_model("node-a"), multinode_model("node-b")
    (h,), (w,) = head["instances"], worker["instances"]
    assert h["multinode"]["role"] == "head" and not h["headless"]
    assert w["multinode"]["role"] == "worker" and w["headless"] and w["argv"][-1] == "--headless"
    for inst in (h, w):
        argv = inst["argv"]
        assert argv[argv.index("--nnodes") + 1] == "2" and argv[argv.index("--master-addr") + 1] == "10.0.0.1"
        assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
        assert inst["env"]["GLOO_SOCKET_IFNAME"] == "eth0"
    assert h["env"]["VLLM_HOST_IP"] == "10.0.0.1" and w["env"]["VLLM_HOST_IP"] == "10.0.0.2"
    # One endpoint for routers and Prometheus: the head's.
    assert [e["name"] for e in head["endpoints"]] == ["vllm"] and worker["endpoints"] == []


@pytest.mark.parametrize("changes, message", [
    (dict(tensor_parallel_size=4), "vllm_service_tensor_parallel_size x vllm_service_pipeline_parallel_size"),
    (dict(multinode_head="node-z"), "vllm_service_multinode_head 'node-z' is not a host of the group"),
    (dict(mode="container"), "vllm_service_multinode_group: a multi-node instance runs as systemd units"),
    (dict(instances=[{"name": "a", "port": 8000}, {"name": "b", "port": 8001}]), "the host's only instance"),
    (dict(extra_args=["--nnodes", "3"]), "--nnodes is set from vllm_service_multinode_group"),
])
def test_bad_multinode_settings_are_refused_by_name(changes, message):
    with pytest.raises(ModelError, match=message):
        multinode_model("node-a", **changes)


def test_a_host_outside_the_group_is_refused():
    with pytest.raises(ModelError, match="this host \\(node-z\\) is not in it"):
        multinode_model("node-z")


def test_every_node_runs_under_the_launcher_and_waits_for_the_head():
    (h,), (w,) = multinode_model("node-a")["instances"], multinode_model("node-b")["instances"]
    launcher = ["/opt/vllm/venv/bin/python", "/usr/local/lib/llmops-vllm/vllm_node.py", "--listen", "29502"]
    assert h["argv"][:7] == launcher + ["--watch", "10.0.0.2:29502", "--"]
    assert w["argv"][:7] == launcher + ["--follow", "10.0.0.1:29502", "--"]
    for inst in (h, w):
        argv = inst["argv"]
        assert argv[7:10] == ["serve", "--model", argv[9]]
        # --revision goes where the model says (pinning after a pre-download rewrites that index).
        assert argv[inst["revision"]["argv_at"] - 2:inst["revision"]["argv_at"]] == ["--port", "8000"]
    # The worker's health is the head's /health (without a chat request: it may have no key).
    assert w["health_url"] == "http://10.0.0.1:8000/health" and w["health"]["chat_model"] == ""
    assert w["health"]["plain_url"] == "http://10.0.0.1:8000/health"
    assert h["health_url"] == "http://127.0.0.1:8000/health"


def test_the_launcher_is_installed_only_for_a_multi_node_instance():
    assert multinode_model("node-b")["node_launcher"] == "/usr/local/lib/llmops-vllm/vllm_node.py"
    assert model()["node_launcher"] is None


def test_a_head_on_loopback_is_refused_since_its_workers_wait_for_its_health():
    with pytest.raises(ModelError, match="vllm_service_host: the head of a multi-node instance must listen"):
        multinode_model("node-a", host="127.0.0.1")
    assert multinode_model("node-b", host="127.0.0.1")["instances"][0]["headless"]


def test_the_firewall_lets_the_other_nodes_ask_the_head():
    firewall = multinode_model("node-a", allowed_clients=["192.0.2.7"])["firewall"]
    assert firewall["clients"] == ["192.0.2.7", "10.0.0.1", "10.0.0.2"]
    assert multinode_model("node-a")["firewall"] is None
