# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: vllm_service_model
short_description: The vllm_service role's validated model of its server instances
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - Internal to the C(llmops.vllm.vllm_service) role. Reads the role's C(vllm_service_*) variables,
    completes every entry of C(vllm_service_instances) from the role-level settings, validates
    everything that will reach a unit, environment file, path or container spec, and returns every
    derived field of every instance. The role's tasks and templates read only this result.
  - Fails before anything changes, naming the variable (and the instance), on bad input such as
    control characters, C(..) path components, environment names that are not names, system
    directories as state directories, or secrets in C(vllm_service_extra_args).
  - Runs on the controller. The TLS files (C(vllm_service_tls_cert_src), C(vllm_service_tls_key_src),
    C(vllm_service_tls_ca_src)) are found on the controller like C(copy)'s C(src) and checked there (the key
    fits the certificate and has no password, the CA signs it, and it names the address the health wait asks).
  - With O(check_host) it also checks on the host (reads only) that C(vllm_service_ca_bundle) is a file and,
    for TLS in systemd mode, that C(/run) has shared mount propagation (C(/proc/self/mountinfo)), which the
    unit's credentials (C(LoadCredential=)) need.
options:
  check_host:
    description: Check on the host what the model needs there (the CA bundle, a shared C(/run) for TLS). V(false) never touches the host.
    type: bool
    default: true
notes:
  - Check mode is supported; it only reads.
  - The result carries the secrets (API keys, Hugging Face token) and is therefore never displayed.
"""

EXAMPLES = r"""
- name: Build the model of the instances
  llmops.vllm.vllm_service_model:
  register: vllm_service__model
"""

RETURN = r"""
instances:
  description:
    - One dictionary per instance, with C(name), C(mode), C(port), C(host), C(url), C(health_url),
      C(model), C(model_src), C(staged_model), C(model_ref), C(served_model), C(state_dir), C(owner),
      C(group), C(directories), C(env), C(secret_env), C(unit), C(container_name), C(download),
      C(health) (with the CA path and the health URL in either scheme), C(tls) (null without TLS; else the files to
      install, their host paths and the CA paths), C(config_files) (current and last good paths), and per runtime
      C(unit_path), C(env_file), C(secrets_file) (never part of the last good copy), C(argv), C(unit_settings)
      (systemd; with the TLS C(credentials) and C(credential_args)) or C(container) (container spec).
  returned: success
  type: list
  elements: dict
endpoints:
  description:
    - One per instance, with C(name), C(url), C(public_url), C(address), C(port), C(model), C(mode), C(unit),
      C(container), C(tls) (whether the URLs are https), C(ca_path) (the CA on the host) and C(controller_ca_path)
      (the CA on the controller).
  returned: success
  type: list
  elements: dict
names:
  description: The instance names.
  returned: success
  type: list
  elements: str
container_names:
  description: The container names (container mode).
  returned: success
  type: list
  elements: str
home:
  description: The service user's home (the first instance's state directory).
  returned: success
  type: str
rollback:
  description: Whether last good configurations are kept and restored.
  returned: success
  type: bool
rollback_dir:
  description: Where the last good configurations are kept.
  returned: success
  type: str
ca_bundle:
  description: The CA bundle on the host, or empty.
  returned: success
  type: str
secrets:
  description: Whether any instance carries a secret.
  returned: success
  type: bool
"""
