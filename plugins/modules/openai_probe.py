#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: openai_probe
short_description: Check that an OpenAI-compatible server (vLLM) is up and answers
version_added: 0.1.0
description:
  - Probes an OpenAI-compatible HTTP server such as C(vllm serve) from the managed host and reports
    health, served models, server version and, per check, status, latency, reply text and token usage.
  - Checks run in the fixed order V(health), V(models), V(completion), V(chat), V(stream) and stop at the
    first failure; the module then fails with a message that says what went wrong (connection refused,
    timeout, HTTP status and the server's error message, authentication, invalid or truncated body,
    model not served, broken stream).
  - With O(wait_timeout) it keeps retrying while the server is still starting.
  - Uses only the Python standard library on the managed host.
author:
  - llmops.vllm maintainers (@llmops)
options:
  model:
    description:
      - Model to use for the V(completion), V(chat) and V(stream) checks.
      - Must be one of the served models (checked against C(GET /v1/models)).
      - Defaults to the first served model.
    type: str
  checks:
    description:
      - Which checks to run.
      - V(health) is C(GET /health) (200 when the vLLM engine is ready).
      - V(models) is C(GET /v1/models); it also runs whenever a generation check needs the model.
      - V(completion) is C(POST /v1/completions) with O(prompt).
      - V(chat) is C(POST /v1/chat/completions) with O(messages) (or O(prompt) as a user message).
      - V(stream) is a streamed C(POST /v1/completions) with O(prompt) that measures time to first token
        and tokens per second, timed like C(vllm bench serve).
    type: list
    elements: str
    choices: [health, models, completion, chat, stream]
    default: [health, models, chat]
  prompt:
    description:
      - Prompt for the V(completion) and V(stream) checks, and the user message of the V(chat) check
        when O(messages) is not set.
    type: str
    default: The capital of France is
  messages:
    description:
      - "Chat messages for the V(chat) check, for example C([{role: user, content: Hi}])."
    type: list
    elements: dict
  max_tokens:
    description:
      - Maximum number of tokens to generate per generation check.
    type: int
    default: 16
  temperature:
    description:
      - Sampling temperature for the generation checks.
    type: float
    default: 0
extends_documentation_fragment:
  - llmops.vllm.openai_endpoint
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Probing is read-only, so it runs (and sends its requests) in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: llmops.vllm.openai_benchmark
"""

EXAMPLES = r"""
- name: Wait up to 10 minutes for vLLM to load the model, then check chat works
  llmops.vllm.openai_probe:
    url: http://127.0.0.1:8000
    api_key: "{{ vllm_api_key }}"
    wait_timeout: 600
    wait_interval: 5
  register: probe

- name: Show the reply
  ansible.builtin.debug:
    msg: "{{ probe.model }} said {{ probe.check_results.chat.text }} in {{ probe.check_results.chat.latency_ms }} ms"

- name: All checks, a given model
  llmops.vllm.openai_probe:
    url: https://llm.example.com
    ca_path: /etc/pki/internal-ca.pem
    model: Qwen/Qwen2.5-0.5B-Instruct
    checks: [health, models, completion, chat, stream]
    messages:
      - role: system
        content: Answer in one word.
      - role: user
        content: What colour is the sky?

- name: Streaming latency
  llmops.vllm.openai_probe:
    url: http://127.0.0.1:8000
    checks: [stream]
    max_tokens: 64
  register: stream

- name: Assert the first token comes quickly
  ansible.builtin.assert:
    that: stream.check_results.stream.ttft_ms < 2000
"""

RETURN = r"""
url:
  description: Normalized base URL that was probed.
  returned: always
  type: str
  sample: http://127.0.0.1:8000
healthy:
  description: Whether every requested check passed.
  returned: always
  type: bool
  sample: true
model:
  description: Model used for the generation checks (the requested one, or the first served model).
  returned: always
  type: str
  sample: Qwen/Qwen2.5-0.5B-Instruct
models:
  description: Ids of the served models (empty when C(/v1/models) was not reached).
  returned: always
  type: list
  elements: str
  sample: [Qwen/Qwen2.5-0.5B-Instruct]
version:
  description: Server version from C(GET /version) (vLLM serves it), V(null) when not served.
  returned: always
  type: str
  sample: 0.11.0
check_results:
  description:
    - One entry per check that ran, keyed by check name. Checks after a failing one do not run.
    - Every entry has RV(check_results.health.ok), RV(check_results.health.status) and
      RV(check_results.health.latency_ms); a failed one has C(msg) and C(kind).
  returned: always
  type: dict
  sample:
    health: {ok: true, status: 200, latency_ms: 1.9}
    models: {ok: true, status: 200, latency_ms: 2.4, models: [Qwen/Qwen2.5-0.5B-Instruct]}
    chat:
      ok: true
      status: 200
      latency_ms: 84.2
      text: Paris.
      reasoning: null
      finish_reason: stop
      usage: {prompt_tokens: 14, completion_tokens: 3, total_tokens: 17}
  contains:
    health:
      description: Result of C(GET /health).
      type: dict
      returned: when requested
      contains:
        ok:
          description: Whether the check passed.
          type: bool
        status:
          description: HTTP status, V(null) when no HTTP reply came back.
          type: int
        latency_ms:
          description: Time for the whole request in milliseconds (V(null) on failure).
          type: float
        msg:
          description: What went wrong (failed checks only).
          type: str
        kind:
          description:
            - Failure class (failed checks only), one of V(connection), V(timeout), V(tls), V(http),
              V(auth), V(invalid_response), V(truncated), V(model_not_found), V(stream).
          type: str
    models:
      description: Result of C(GET /v1/models); same keys as RV(check_results.health) plus C(models).
      type: dict
      returned: when requested, or when a generation check needs the model
    completion:
      description:
        - Result of C(POST /v1/completions); same keys as RV(check_results.health) plus C(text),
          C(usage) (C(prompt_tokens), C(completion_tokens), C(total_tokens)) and C(finish_reason).
      type: dict
      returned: when requested
    chat:
      description:
        - Result of C(POST /v1/chat/completions); like RV(check_results.completion) plus C(reasoning)
          (the C(reasoning_content) of reasoning models, else V(null)).
      type: dict
      returned: when requested
    stream:
      description:
        - Result of a streamed C(POST /v1/completions) with C(stream_options.include_usage).
        - Like RV(check_results.completion) plus C(ttft_ms) (time to the first streamed chunk),
          C(output_tokens) (from the server's usage, or the number of chunks when there is none, see
          C(usage_source)), C(chunks), C(tokens_per_s) (output tokens / latency), C(tpot_ms)
          (time per output token after the first) and C(decode_tokens_per_s) (1000 / C(tpot_ms)).
        - C(latency_ms) is the time to the last token chunk.
      type: dict
      returned: when requested
wait_attempts:
  description: How many times the checks were tried (more than one only with O(wait_timeout)).
  returned: always
  type: int
  sample: 1
elapsed_s:
  description: Seconds spent probing, retries included.
  returned: always
  type: float
  sample: 0.09
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmops.vllm.plugins.module_utils._openai_client import (
    CHECKS,
    DEFAULT_CHECKS,
    OpenAIClient,
    OpenAIError,
    endpoint_argument_spec,
    probe,
)


def main():
    argument_spec = endpoint_argument_spec()
    argument_spec.update(
        model=dict(type='str'),
        checks=dict(type='list', elements='str', choices=list(CHECKS), default=list(DEFAULT_CHECKS)),
        prompt=dict(type='str', default='The capital of France is'),
        messages=dict(type='list', elements='dict'),
        max_tokens=dict(type='int', default=16, no_log=False),
        temperature=dict(type='float', default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params

    result = dict(changed=False, url=p['url'], healthy=False, model=p['model'], models=[], version=None,
                  check_results={}, wait_attempts=0, elapsed_s=0.0)
    if not p['checks']:
        module.fail_json(msg='checks must name at least one of %s' % ', '.join(CHECKS), **result)
    try:
        client = OpenAIClient(p['url'], api_key=p['api_key'], timeout=p['timeout'],
                              validate_certs=p['validate_certs'], ca_path=p['ca_path'])
    except OpenAIError as exc:
        module.fail_json(msg=exc.msg, **result)
    result['url'] = client.base_url

    out = probe(client, p['checks'], model=p['model'], prompt=p['prompt'], messages=p['messages'],
                max_tokens=p['max_tokens'], temperature=p['temperature'],
                wait_timeout=p['wait_timeout'], wait_interval=p['wait_interval'])
    error = out['error']
    result.update(
        healthy=error is None,
        model=out['model'],
        models=out['models'],
        version=out['version'],
        check_results=out['check_results'],
        wait_attempts=out['wait_attempts'],
        elapsed_s=out['elapsed_s'],
    )
    if error is not None:
        failed = [name for name, res in out['check_results'].items() if not res.get('ok')]
        msg = '%s check failed: %s' % (failed[0] if failed else 'probe', error.msg)
        if p['wait_timeout'] and error.retriable:
            msg += ' (still failing after %d tries in %.1fs, wait_timeout=%g)' % (
                out['wait_attempts'], out['elapsed_s'], p['wait_timeout'])
        module.fail_json(msg=msg, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
