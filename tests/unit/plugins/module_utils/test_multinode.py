"""module_utils/_multinode.py: one instance across the hosts of an inventory group, checked by name."""

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._multinode import MultinodeError, plan

MEMBERS = ["node-a", "node-b"]
ADDRESSES = {"node-a": "10.0.0.1", "node-b": "10.0.0.2"}


def make(host="node-a", **changes):
    kwargs = dict(group="big", members=MEMBERS, head="", inventory_hostname=host, addresses=ADDRESSES,
                  tensor_parallel_size=2, pipeline_parallel_size=1, port=29501, interface="eth0", device="cpu")
    kwargs.update(changes)
    return plan(**kwargs)


def test_no_group_is_a_single_host_instance():
    assert make(group="") is None


def test_the_first_host_is_the_head_and_the_others_headless_workers():
    head, worker = make("node-a"), make("node-b")
    assert head["role"] == "head" and head["rank"] == 0 and "--headless" not in head["args"]
    assert worker["role"] == "worker" and worker["rank"] == 1 and worker["args"][-1] == "--headless"
    for part in (head, worker):
        assert part["args"][:12] == ["--tensor-parallel-size", "2", "--pipeline-parallel-size", "1", "--nnodes", "2",
                                     "--node-rank", str(part["rank"]), "--master-addr", "10.0.0.1",
                                     "--master-port", "29501"]
    assert head["env"] == {"VLLM_HOST_IP": "10.0.0.1", "GLOO_SOCKET_IFNAME": "eth0"}
    assert worker["env"] == {"VLLM_HOST_IP": "10.0.0.2", "GLOO_SOCKET_IFNAME": "eth0"}


def test_a_named_head_takes_rank_0_and_the_rest_keep_inventory_order():
    members = ["a", "b", "c"]
    addresses = {"a": "10.0.0.1", "b": "10.0.0.2", "c": "10.0.0.3"}
    ranks = {h: make(h, members=members, addresses=addresses, head="b", tensor_parallel_size=3)["rank"]
             for h in members}
    assert ranks == {"b": 0, "a": 1, "c": 2}
    assert make("c", members=members, addresses=addresses, head="b", tensor_parallel_size=3)["master_addr"] == "10.0.0.2"


def test_gpu_nodes_run_one_worker_per_gpu_and_name_the_nccl_interface():
    part = make(device="gpu", tensor_parallel_size=8, pipeline_parallel_size=2, gpu_count=8)
    assert part["local_world_size"] == 8 and part["world_size"] == 16
    assert part["env"]["NCCL_SOCKET_IFNAME"] == "eth0"
    assert make(device="gpu", tensor_parallel_size=2, cuda_visible_devices=[0])["local_world_size"] == 1


@pytest.mark.parametrize("changes, message", [
    (dict(members=["node-a"]), "two or more hosts"),
    (dict(inventory_hostname="node-z"), "this host \\(node-z\\) is not in it"),
    (dict(head="node-z"), "vllm_service_multinode_head 'node-z' is not a host of the group"),
    (dict(tensor_parallel_size=4), "2 nodes x 1 worker per CPU node = 2"),
    (dict(tensor_parallel_size=2, pipeline_parallel_size=2), "\\(2 x 2 = 4\\)"),
    (dict(tensor_parallel_size=0), "vllm_service_tensor_parallel_size must be a positive integer"),
    (dict(pipeline_parallel_size="two"), "vllm_service_pipeline_parallel_size must be a positive integer"),
    (dict(port=70000), "vllm_service_multinode_port must be a port number"),
    (dict(interface="eth0\nExecStartPre=/bin/true"), "vllm_service_multinode_interface"),
    (dict(device="gpu"), "vllm_service_gpu_count"),
    (dict(device="gpu", gpu_count=4, tensor_parallel_size=4), "2 nodes x 4 GPUs = 8"),
    (dict(extra_args=["--tensor-parallel-size", "4"]), "--tensor-parallel-size is set from vllm_service_tensor_parallel_size"),
    (dict(extra_args=["--headless"]), "--headless is set from vllm_service_multinode_group"),
    (dict(extra_args=["--master-port=1234"]), "--master-port is set from vllm_service_multinode_port"),
    (dict(addresses={"node-a": "", "node-b": "10.0.0.2"}), "host node-a has no usable address"),
    (dict(addresses={"node-a": "bad host\n", "node-b": "10.0.0.2"}), "host node-a has no usable address"),
])
def test_bad_multinode_input_is_refused_by_name(changes, message):
    with pytest.raises(MultinodeError, match=message):
        make(**changes)


def test_launcher_options_the_head_watches_every_worker_and_a_worker_follows_the_head():
    members = ["a", "b", "c"]
    addresses = {"a": "10.0.0.1", "b": "fd00::2", "c": "node-c.example"}
    head = plan("g", members, "", "a", addresses, 3, 1, 29501, "", "cpu")
    assert head["launcher_args"] == ["--listen", "29502", "--watch", "[fd00::2]:29502,node-c.example:29502"]
    worker = plan("g", members, "", "c", addresses, 3, 1, 29501, "", "cpu")
    assert worker["launcher_args"] == ["--listen", "29502", "--follow", "10.0.0.1:29502"]
    assert worker["addresses"] == ["10.0.0.1", "fd00::2", "node-c.example"]


def test_the_last_port_is_refused_since_the_next_one_is_the_liveness_port():
    with pytest.raises(MultinodeError, match="vllm_service_multinode_port must be a port number below 65535"):
        plan("g", ["a", "b"], "", "a", {"a": "10.0.0.1", "b": "10.0.0.2"}, 2, 1, 65535, "", "cpu")
