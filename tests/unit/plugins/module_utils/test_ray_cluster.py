"""The Ray cluster plan (role ray_cluster): head, `ray start` arguments, refusals by name; and what
`ray status` says (a real capture of Ray 2.60.0 on two test hosts)."""

from pathlib import Path

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._ray_cluster import RayClusterError, parse_status, plan

MEMBERS = ["a", "b"]
ADDRESSES = {"a": "10.0.0.1", "b": "10.0.0.2"}
CAPTURES = Path(__file__).resolve().parents[2] / "fixtures"


def node(host, **changes):
    args = dict(group="rc", members=MEMBERS, head="", inventory_hostname=host, addresses=ADDRESSES, port=6379,
                temp_dir="/var/lib/llmops-ray")
    args.update(changes)
    return plan(**args)


def test_the_first_host_is_the_head_and_the_others_join_it():
    head, worker = node("a"), node("b")
    assert head["role"] == "head" and worker["role"] == "worker" and head["head_address"] == "10.0.0.1:6379"
    assert head["argv"] == ["start", "--block", "--node-ip-address", "10.0.0.1", "--temp-dir", "/var/lib/llmops-ray/session",
                            "--disable-usage-stats", "--head", "--port", "6379", "--include-dashboard", "false"]
    assert worker["argv"][-2:] == ["--address", "10.0.0.1:6379"] and "--head" not in worker["argv"]
    assert worker["nodes"] == ["a", "b"] and node("a", head="b")["nodes"] == ["b", "a"]


def test_resources_are_given_only_when_set():
    argv = node("b", num_cpus=1, num_gpus=0, object_store_memory_mib=128)["argv"]
    assert argv[argv.index("--num-cpus") + 1] == "1" and argv[argv.index("--num-gpus") + 1] == "0"
    assert argv[argv.index("--object-store-memory") + 1] == str(128 * 1024 * 1024)
    assert "--num-cpus" not in node("b")["argv"]


@pytest.mark.parametrize("host, changes, message", [
    ("a", dict(members=[]), "ray_cluster_group 'rc' is not an inventory group with hosts"),
    ("z", {}, "ray_cluster_group 'rc': this host \\(z\\) is not in it"),
    ("a", dict(head="z"), "ray_cluster_head 'z' is not a host of the group"),
    ("a", dict(port=70000), "ray_cluster_port must be between 1 and 65535"),
    ("a", dict(temp_dir="/var/lib/../etc"), "ray_cluster_temp_dir must be an absolute path"),
    ("a", dict(temp_dir="/var/lib/" + "x" * 50), "ray_cluster_temp_dir must be an absolute path of at most 52"),
    ("a", dict(object_store_memory_mib=10), "ray_cluster_object_store_memory_mib must be 0"),
    ("a", dict(num_cpus="many"), "ray_cluster_num_cpus must be an integer"),
    ("a", dict(addresses={"a": "10.0.0.1\nExecStart=/bin/sh", "b": "10.0.0.2"}), "host a has no usable address"),
])
def test_bad_input_is_refused_by_name(host, changes, message):
    with pytest.raises(RayClusterError, match=message):
        node(host, **changes)


def test_ray_status_of_a_real_two_node_cluster():
    status = parse_status((CAPTURES / "ray-status-2.60.0-two-nodes.txt").read_text())
    assert status["active"] == 2 and status["pending"] == 0 and status["failed"] == 0
    assert status["resources"] == {"CPU": "2.0", "memory": "37.03GiB", "object_store_memory": "256.00MiB"}


def test_ray_status_without_a_cluster_says_nothing_is_active():
    assert parse_status("")["active"] == 0
    assert parse_status("ConnectionError: Could not find any running Ray instance.")["active"] == 0


def test_the_filter_takes_each_nodes_address_from_the_inventory():
    from ansible_collections.llmops.vllm.plugins.filter.ray_cluster_plan import ray_cluster_plan

    hostvars = {"a": {"ray_cluster_advertise_address": "10.0.0.1", "vllm_service_advertise_address": "10.9.9.9"},
                "b": {"vllm_service_advertise_address": "10.0.0.2", "ansible_host": "10.9.9.8"},
                "c": {"ansible_host": "10.0.0.3"}}
    groups = {"rc": ["a", "b", "c", "d"]}
    settings = {"group": "rc", "port": 6379, "temp_dir": "/var/lib/llmops-ray"}
    assert ray_cluster_plan(settings, "c", groups, hostvars)["argv"][3] == "10.0.0.3"
    assert ray_cluster_plan(settings, "b", groups, hostvars)["argv"][3] == "10.0.0.2"
    assert ray_cluster_plan(settings, "d", groups, hostvars)["argv"][3] == "d"  # no variables: its name
    assert ray_cluster_plan(settings, "d", groups, hostvars)["head_address"] == "10.0.0.1:6379"
