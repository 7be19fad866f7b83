# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment a vLLM process runs with, for the server (the instance model) and the offline
batch job alike: caches and scratch in the service's state directory, hub and usage settings, and
the device's variables. One function, so both run vLLM the same way."""

from __future__ import annotations

SETTINGS = {
    "state_dir": None,            # required: HOME and the compile caches
    "hf_home": "",                # default <state_dir>/hf
    "tmpdir": "",                 # default <state_dir>/tmp
    "device": "cpu",              # cpu | gpu
    "cpu_kvcache_space_gib": 4,
    "cpu_omp_threads_bind": "auto",
    "cuda_visible_devices": [],
    "usage_stats": False,
    "hub_offline": False,         # the model is on disk: never try a hub (air-gapped hosts hang on it)
    "ld_preload": "",
}


def vllm_environment(settings):
    """{name: value} for one vLLM process. Unknown settings are an error (a typo would be silent)."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError("unknown vLLM environment settings: %s" % ", ".join(unknown))
    s = dict(SETTINGS, **settings)
    if not s["state_dir"]:
        raise ValueError("state_dir is required")
    state = s["state_dir"]
    # vLLM's scratch and caches in the service's own state dir: left alone it writes sockets and a
    # ~150 MB precompiled header to /tmp on every start.
    env = {
        "HOME": state,
        "HF_HOME": s["hf_home"] or state + "/hf",
        "VLLM_CACHE_ROOT": state + "/cache/vllm",
        "TORCHINDUCTOR_CACHE_DIR": state + "/cache/torchinductor",
        "TRITON_CACHE_DIR": state + "/cache/triton",
        "TMPDIR": s["tmpdir"] or state + "/tmp",
    }
    if s["hub_offline"]:
        env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    if not s["usage_stats"]:
        env.update({"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"})
    env.update(device_environment(s))
    if s["ld_preload"]:
        env["LD_PRELOAD"] = s["ld_preload"]
    return env


def device_environment(s):
    if s["device"] == "cpu":
        return {"VLLM_CPU_KVCACHE_SPACE": str(s["cpu_kvcache_space_gib"]),
                "VLLM_CPU_OMP_THREADS_BIND": str(s["cpu_omp_threads_bind"])}
    if s["cuda_visible_devices"]:
        return {"CUDA_VISIBLE_DEVICES": ",".join(str(d) for d in s["cuda_visible_devices"])}
    return {}
