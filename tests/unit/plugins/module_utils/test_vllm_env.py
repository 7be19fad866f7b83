"""One vLLM environment for the server and the offline job."""

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._vllm_env import vllm_environment


def test_cpu_defaults():
    env = vllm_environment({"state_dir": "/var/lib/vllm"})
    assert env == {
        "HOME": "/var/lib/vllm", "HF_HOME": "/var/lib/vllm/hf", "VLLM_CACHE_ROOT": "/var/lib/vllm/cache/vllm",
        "TORCHINDUCTOR_CACHE_DIR": "/var/lib/vllm/cache/torchinductor", "TRITON_CACHE_DIR": "/var/lib/vllm/cache/triton",
        "TMPDIR": "/var/lib/vllm/tmp", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
        "VLLM_CPU_KVCACHE_SPACE": "4", "VLLM_CPU_OMP_THREADS_BIND": "auto"}


def test_gpu_offline_job():
    env = vllm_environment({"state_dir": "/s", "hf_home": "/models/hf", "tmpdir": "/s/job/tmp", "device": "gpu",
                            "cuda_visible_devices": [0, 1], "usage_stats": True, "hub_offline": True,
                            "ld_preload": "/lib/x.so"})
    assert env["HF_HOME"] == "/models/hf" and env["TMPDIR"] == "/s/job/tmp" and env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert env["HF_HUB_OFFLINE"] == "1" and env["LD_PRELOAD"] == "/lib/x.so"
    assert "VLLM_NO_USAGE_STATS" not in env and "VLLM_CPU_KVCACHE_SPACE" not in env


@pytest.mark.parametrize("settings, message", [({}, "state_dir is required"),
                                               ({"state_dir": "/s", "devcie": "gpu"}, "unknown .* devcie")])
def test_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        vllm_environment(settings)
