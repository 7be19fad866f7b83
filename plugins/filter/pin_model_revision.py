# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A vllm_service instance pinned to the commit its model's pre-download resolved to."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm.plugins.module_utils._instance_model import pin

DOCUMENTATION = r"""
name: pin_model_revision
short_description: Pin a vllm_service instance to the commit its model download resolved to
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - Takes one instance of the C(llmops.vllm.vllm_service) model of instances (the action
    C(llmops.vllm.vllm_service_model)) and the result of C(llmops.vllm.model_download) for it, and returns
    the instance as it runs.
  - When the instance's revision is pinned by its pre-download (a Hugging Face model with
    C(vllm_service_model_predownload), the revision a branch or tag), the commit the download resolved the
    revision to becomes the server's C(--revision) (in C(argv) and in the container's C(command)) and
    C(revision.commit).
  - Otherwise (no download ran, a skipped or failed result, a result for another model, a revision given as a
    commit, a staged model directory, ModelScope) the instance comes back as it is.
  - Adds C(restart_for_download), true when a ModelScope download changed the cached files, which no commit pins.
positional: _input, download
options:
  _input:
    description: One entry of the model's C(instances).
    type: dict
    required: true
  download:
    description: The result of C(llmops.vllm.model_download) for this instance (its job's result, or the module's
      own answer in check mode); V({}) when none ran.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: The unit's command line with the downloaded commit
  ansible.builtin.debug:
    msg: "{{ (vllm_service__model.instances[0] | llmops.vllm.pin_model_revision(download_result)).argv }}"
"""

RETURN = r"""
_value:
  description: The instance, with C(argv) / C(container.command) and C(revision) pinned, and C(restart_for_download).
  type: dict
"""


def pin_model_revision(instance, download=None):
    if not isinstance(instance, dict) or "revision" not in instance:
        raise AnsibleFilterError("pin_model_revision: expects an instance of the vllm_service model, got %r"
                                 % type(instance).__name__)
    return pin(instance, dict(download) if isinstance(download, dict) else {})


class FilterModule:
    def filters(self):
        return {"pin_model_revision": pin_model_revision}
