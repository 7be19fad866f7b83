"""Check what molecule/default/side_effect.yml left under $MOLECULE_EPHEMERAL_DIRECTORY/artifacts.

The benchmark report (playbooks/benchmark.yml), the offline batch job's results
(playbooks/offline_inference.yml) and the Prometheus targets file (playbooks/prometheus_targets.yml),
all produced against the real vLLM server of the scenario host.
"""

import json
import os
import urllib.request

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("cpu_hosts")

ARTIFACTS = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "artifacts")
if not os.path.isdir(ARTIFACTS):
    # side_effect.yml creates it; when it fails, Molecule stops before verify.
    pytest.skip("side_effect did not run (add side_effect before verify in the scenario's test_sequence)",
                allow_module_level=True)
PROMPTS = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "tests", "fixtures", "prompts.txt")
# The request shape side_effect.yml asks for.
NUM_REQUESTS, CONCURRENCY, INPUT_LEN, OUTPUT_LEN = 8, 2, 32, 16
# The port Molecule publishes on the controller's loopback (molecule.yml); side_effect.yml reads the same.
PUBLISHED = "127.0.0.1:%s" % (os.environ.get("LLMOPS_PUBLISHED_PORT") or "18000")


def name_of(host):
    return host.backend.get_hostname()


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_benchmark_report_files():
    base = os.path.join(ARTIFACTS, "benchmark", "benchmark")
    for ext in ("md", "png", "json"):
        assert os.path.getsize(base + "." + ext) > 0, ext
    with open(base + ".png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_benchmark_numbers_are_sane(host):
    report = load(os.path.join(ARTIFACTS, "benchmark", "benchmark.json"))
    assert report["comparable"] is True
    assert report["request_shape"] == dict(num_requests=NUM_REQUESTS, concurrency=CONCURRENCY,
                                           input_len=INPUT_LEN, output_len=OUTPUT_LEN, ignore_eos_sent=True)
    (row,) = [r for r in report["hosts"] if r["host"] == name_of(host)]
    assert row["status"] == "ok"
    assert row["group"] == "cpu_hosts" and row["group_label"] == "CPU"
    assert row["model"] == "tiny"
    assert row["completed"] == NUM_REQUESTS
    assert row["errors"] == 0
    assert row["output_throughput"] > 0
    assert row["request_throughput"] > 0
    assert row["total_output_tokens"] == NUM_REQUESTS * OUTPUT_LEN  # ignore_eos
    assert row["total_input_tokens"] >= NUM_REQUESTS * INPUT_LEN
    assert row["ttft_ms"]["count"] == NUM_REQUESTS
    assert 0 < row["ttft_ms"]["p50"] <= row["ttft_ms"]["p90"] <= row["ttft_ms"]["p99"]
    assert row["e2el_ms"]["p50"] >= row["ttft_ms"]["p50"]
    assert row["info"]["load_from"] == "host"
    markdown = open(os.path.join(ARTIFACTS, "benchmark", "benchmark.md"), encoding="utf-8").read()
    assert "![" in markdown and "benchmark.png" in markdown
    assert "| %s | CPU | ok | tiny |" % name_of(host) in markdown


def test_offline_results_one_line_per_prompt(host):
    with open(PROMPTS, encoding="utf-8") as f:
        prompts = [line.rstrip("\n") for line in f if line.strip()]
    path = os.path.join(ARTIFACTS, "offline", name_of(host), "batch.jsonl")
    with open(path, encoding="utf-8") as f:
        results = [json.loads(line) for line in f]
    assert len(results) == len(prompts) == 3
    assert [r["prompt"] for r in results] == prompts
    for r in results:
        assert r["prompt_tokens"] > 0
        assert 0 < r["output_tokens"] <= 8  # max_tokens
        assert isinstance(r["output"], str)
        assert r["finish_reason"] in ("length", "stop")


def test_offline_summary_and_files_on_host(host):
    summary = load(os.path.join(ARTIFACTS, "offline", name_of(host), "batch.summary.json"))
    assert summary["state"] == "done"
    assert summary["done"] == summary["total"] == 3
    assert summary["output_tokens"] > 0
    work = host.file("/var/lib/vllm/offline/batch")
    assert work.is_directory and work.user == "vllm" and work.mode == 0o750
    env = host.file("/var/lib/vllm/offline/batch/job-env.json")
    assert env.mode == 0o600 and env.user == "vllm"
    assert host.file("/var/lib/vllm/offline/batch/results.jsonl").user == "vllm"  # ran as the service user


def test_prometheus_targets(host):
    targets = load(os.path.join(ARTIFACTS, "prometheus", "vllm_targets.json"))
    (entry,) = [t for t in targets if t["labels"]["host"] == name_of(host)]
    assert entry["targets"] == [PUBLISHED]
    assert entry["labels"] == dict(host=name_of(host), group="cpu_hosts", model="tiny", instance_name="vllm")


def test_prometheus_target_serves_vllm_metrics():
    targets = load(os.path.join(ARTIFACTS, "prometheus", "vllm_targets.json"))
    with urllib.request.urlopen("http://%s/metrics" % targets[0]["targets"][0], timeout=30) as resp:
        text = resp.read().decode("utf-8")
    assert "vllm:" in text
