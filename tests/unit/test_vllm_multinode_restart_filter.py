"""vllm_multinode_restart: a multi-node instance restarts as a whole."""

from ansible_collections.llmops.vllm.plugins.filter.vllm_multinode_restart import vllm_multinode_restart

PLAN = {"nodes": ["head", "w1", "w2"]}


def test_one_node_restarting_restarts_the_instance():
    hostvars = {"head": {"vllm_service__node_restart": False}, "w1": {}, "w2": {"vllm_service__node_restart": True}}
    assert vllm_multinode_restart(PLAN, hostvars) is True


def test_no_node_restarting_and_nodes_outside_the_run_restart_nothing():
    hostvars = {"head": {"vllm_service__node_restart": False}, "w1": {"vllm_service__node_restart": "False"}}
    assert vllm_multinode_restart(PLAN, hostvars) is False


def test_a_single_host_instance_has_no_peers():
    assert vllm_multinode_restart(None, {"x": {"vllm_service__node_restart": True}}) is False
