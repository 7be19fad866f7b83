# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The images (IDs and tags) a `docker save` archive on the controller holds."""

from __future__ import annotations

DOCUMENTATION = r"""
name: docker_archive
short_description: The images a docker save archive on the controller holds
version_added: 0.3.0
author: llmops.vllm maintainers (@llmops)
description:
  - Reads the archive's C(manifest.json) (the legacy layout and Docker 25's OCI layout both have it)
    and returns, per image, its ID (the SHA-256 of its config) and its tags.
  - C(vllm_service) uses it in container mode to push an image archive to a host without a registry
    only when the host does not have those images yet (C(vllm_service_image_archive_src)).
options:
  _terms:
    description: Paths of C(docker save) archives on the controller (uncompressed tar).
    type: list
    elements: path
    required: true
  image:
    description:
      - An image reference; each result then says whether the archive holds it (C(holds_image)),
        C(docker.io/) and C(library/) prefixes and an implied C(:latest) taken into account.
    type: str
"""

EXAMPLES = r"""
- name: Which images does the archive hold?
  ansible.builtin.debug:
    msg: "{{ lookup('llmops.vllm.docker_archive', 'vllm-openai-cpu.tar', image='vllm/vllm-openai-cpu:v0.33.0') }}"
"""

RETURN = r"""
_raw:
  description: One entry per archive.
  type: list
  elements: dict
  contains:
    path:
      description: The archive's path.
      type: str
    images:
      description: "Its images: C(id) (C(sha256:...)) and C(tags) (C(repo:tag) strings)."
      type: list
      elements: dict
    holds_image:
      description: Whether one of the images is tagged with the I(image) option (only with that option).
      type: bool
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.llmops.vllm.plugins.module_utils._docker_archive import ArchiveError, holds, read_images


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        image = self.get_option("image")
        results = []
        for term in terms:
            try:
                result = {"path": term, "images": read_images(term)}
            except ArchiveError as exc:
                raise AnsibleLookupError(str(exc)) from exc
            if image:
                result["holds_image"] = holds(result["images"], image)
            results.append(result)
        return results
