#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: openai_benchmark
short_description: Measure throughput and latency of an OpenAI-compatible server (vLLM)
version_added: 0.1.0
description:
  - Sends O(num_requests) streamed C(POST /v1/completions) requests from the managed host, O(concurrency)
    at a time, with a fixed prompt length (O(input_len)) and output length (O(output_len)), and reports
    throughput, time to first token (TTFT), time per output token (TPOT), inter-token latency (ITL) and
    end-to-end latency (E2EL).
  - The metric definitions follow C(vllm bench serve) (C(--request-rate inf --max-concurrency C)), see
    RV(output_throughput) and the other return values.
  - Each request asks for C(stream_options.include_usage) so token counts come from the server; without
    usage in the stream, output tokens are counted as streamed chunks (see RV(usage_source)).
  - Before the timed run the model list is fetched (retrying for O(wait_timeout) seconds), the model is
    resolved and one untimed request checks the setup. If the server rejects C(ignore_eos) or
    C(stream_options) (non-vLLM servers), they are dropped with a warning.
  - Failed requests are counted in RV(errors) with the first messages in RV(error_messages); the module
    fails only when every request failed, or on any failure with O(fail_on_error=true).
  - Uses only the Python standard library (threads from C(concurrent.futures)) on the managed host.
author:
  - llmops.vllm maintainers (@llmops)
options:
  model:
    description:
      - Model to benchmark; must be one of the served models. Defaults to the first served model.
    type: str
  num_requests:
    description:
      - Number of timed requests.
    type: int
    default: 20
  concurrency:
    description:
      - Number of requests in flight at once (worker threads).
    type: int
    default: 4
  input_len:
    description:
      - Approximate prompt length in tokens.
      - The prompt is made of common English words (one token each in usual BPE vocabularies),
        different for every request so prefix caching does not shortcut the prefill.
      - Before the run the word list is tokenized once by the server (vLLM's C(POST /tokenize)) and the number
        of words is scaled so that prompts have about O(input_len) tokens with the served model's tokenizer
        (see RV(tokens_per_word)); servers without C(/tokenize) get O(input_len) words.
      - The token counts used in the results are the ones the server reports.
      - Ignored when O(prompt) is set.
    type: int
    default: 128
  output_len:
    description:
      - Tokens to generate per request (C(max_tokens)).
    type: int
    default: 128
  ignore_eos:
    description:
      - Send C(ignore_eos=true) (a vLLM extension) so every request generates exactly O(output_len) tokens.
    type: bool
    default: true
  prompt:
    description:
      - Use this fixed prompt for every request instead of generated ones.
    type: str
  seed:
    description:
      - Seed for the generated prompts.
    type: int
    default: 0
  num_warmups:
    description:
      - Untimed requests to send (at O(concurrency)) before the timed run.
    type: int
    default: 0
  percentiles:
    description:
      - Percentiles to report for each latency metric, as C(p<N>) keys.
    type: list
    elements: float
    default: [50, 90, 99]
  max_error_messages:
    description:
      - How many error messages of failed requests to return in RV(error_messages).
    type: int
    default: 5
  fail_on_error:
    description:
      - Fail when any timed request failed. By default the module fails only when all of them failed.
    type: bool
    default: false
extends_documentation_fragment:
  - llmops.vllm.openai_endpoint
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The benchmark does not change the server, so it runs (and sends its load) in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Every request opens its own connection (Python's C(urllib)); on V(https://) URLs the TLS handshake is
    part of the measured TTFT.
  - O(timeout) bounds the wait for each streamed chunk. When O(concurrency) is above the server's
    C(--max-num-seqs), requests queue on the server before their first token; raise O(timeout) accordingly.
  - The threads run on the managed host; with O(url) on V(127.0.0.1) the client competes with the server
    for CPU, as with C(vllm bench serve) on the same machine.
seealso:
  - module: llmops.vllm.openai_probe
  - name: vLLM benchmark CLI
    description: C(vllm bench serve), whose metric definitions this module follows.
    link: https://docs.vllm.ai/en/latest/cli/bench/serve.html
"""

EXAMPLES = r"""
- name: 200 requests, 16 at a time, 512 tokens in, 128 out
  llmops.vllm.openai_benchmark:
    url: http://127.0.0.1:8000
    api_key: "{{ vllm_api_key }}"
    num_requests: 200
    concurrency: 16
    input_len: 512
    output_len: 128
    wait_timeout: 600
  register: bench

- name: Report
  ansible.builtin.debug:
    msg: >-
      {{ bench.output_throughput }} tok/s, {{ bench.request_throughput }} req/s,
      TTFT p99 {{ bench.ttft_ms.p99 }} ms, ITL p50 {{ bench.itl_ms.p50 }} ms,
      {{ bench.errors }} errors

- name: Gate on latency
  ansible.builtin.assert:
    that:
      - bench.errors == 0
      - bench.ttft_ms.p90 < 1000
"""

RETURN = r"""
model:
  description: Model that was benchmarked.
  returned: success
  type: str
  sample: Qwen/Qwen2.5-0.5B-Instruct
endpoint:
  description: Path the requests were sent to.
  returned: success
  type: str
  sample: /v1/completions
num_requests:
  description: Number of timed requests sent.
  returned: success
  type: int
  sample: 200
concurrency:
  description: Requests in flight at once.
  returned: success
  type: int
  sample: 16
input_len:
  description: Requested prompt length (V(null) with O(prompt)).
  returned: success
  type: int
  sample: 512
prompt_words:
  description: Words per generated prompt (V(null) with O(prompt)).
  returned: success
  type: int
  sample: 512
tokens_per_word:
  description:
    - Mean prompt tokens per word, measured with the server's C(/tokenize) before the run; V(null) when the server
      has no C(/tokenize) (then O(input_len) words are sent) or with O(prompt).
  returned: success
  type: float
  sample: 1.0
output_len:
  description: Requested output length.
  returned: success
  type: int
  sample: 128
completed:
  description: Requests that succeeded.
  returned: success
  type: int
  sample: 200
errors:
  description: Requests that failed.
  returned: success
  type: int
  sample: 0
error_messages:
  description: The first O(max_error_messages) error messages of failed requests.
  returned: success
  type: list
  elements: str
  sample: []
duration_s:
  description: Wall time of the timed run in seconds (from the first request sent to the last one done).
  returned: success
  type: float
  sample: 21.4
total_input_tokens:
  description: Prompt tokens of the successful requests (server usage; estimated from the prompt without it).
  returned: success
  type: int
  sample: 102600
total_output_tokens:
  description: Output tokens of the successful requests (server usage, or streamed chunks).
  returned: success
  type: int
  sample: 25600
request_throughput:
  description: Completed requests per second (RV(completed) / RV(duration_s)).
  returned: success
  type: float
  sample: 9.35
output_throughput:
  description: Output tokens per second (RV(total_output_tokens) / RV(duration_s)), as C(vllm bench serve).
  returned: success
  type: float
  sample: 1196.3
total_token_throughput:
  description: Input plus output tokens per second.
  returned: success
  type: float
  sample: 5990.7
ttft_ms:
  description:
    - Time to first token per successful request (request sent to first streamed chunk), in ms.
    - Has C(count), C(mean), C(std) (population), C(min), C(max) and one C(p<N>) key per O(percentiles)
      (linear interpolation, like C(numpy.percentile)); statistics of an empty set are V(null).
  returned: success
  type: dict
  sample: {count: 200, mean: 112.5, std: 30.1, min: 60.2, max: 250.9, p50: 105.0, p90: 150.3, p99: 240.8}
tpot_ms:
  description:
    - Time per output token after the first, per request with more than one output token,
      C((latency - ttft) / (output_tokens - 1)), in ms. Same keys as RV(ttft_ms).
  returned: success
  type: dict
itl_ms:
  description:
    - Inter-token latency, the gaps between successive streamed chunks, pooled over all successful
      requests, in ms. Same keys as RV(ttft_ms).
  returned: success
  type: dict
e2el_ms:
  description:
    - End-to-end latency per successful request (request sent to last token chunk), in ms.
      Same keys as RV(ttft_ms).
  returned: success
  type: dict
ignore_eos_sent:
  description: Whether C(ignore_eos) was sent (false when disabled or rejected by the server).
  returned: success
  type: bool
  sample: true
usage_source:
  description:
    - Where output token counts came from, V(server) (stream usage), V(chunks) (counted chunks) or V(mixed).
  returned: success
  type: str
  sample: server
wait_attempts:
  description: How many times the model list was fetched before the server answered.
  returned: success
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmops.vllm.plugins.module_utils._openai_bench import run_benchmark
from ansible_collections.llmops.vllm.plugins.module_utils._openai_client import (
    OpenAIClient,
    OpenAIError,
    endpoint_argument_spec,
)


def main():
    argument_spec = endpoint_argument_spec()
    argument_spec.update(
        model=dict(type='str'),
        num_requests=dict(type='int', default=20),
        concurrency=dict(type='int', default=4),
        input_len=dict(type='int', default=128),
        output_len=dict(type='int', default=128),
        ignore_eos=dict(type='bool', default=True),
        prompt=dict(type='str'),
        seed=dict(type='int', default=0),
        num_warmups=dict(type='int', default=0),
        percentiles=dict(type='list', elements='float', default=[50, 90, 99]),
        max_error_messages=dict(type='int', default=5),
        fail_on_error=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params

    for name in ('num_requests', 'concurrency', 'output_len'):
        if p[name] < 1:
            module.fail_json(msg='%s must be at least 1, got %d' % (name, p[name]))
    if not p['prompt'] and p['input_len'] < 1:
        module.fail_json(msg='input_len must be at least 1, got %d' % p['input_len'])
    bad = [x for x in p['percentiles'] if not 0 <= x <= 100]
    if bad:
        module.fail_json(msg='percentiles must be between 0 and 100, got %s' % ', '.join('%g' % x for x in bad))

    try:
        client = OpenAIClient(p['url'], api_key=p['api_key'], timeout=p['timeout'],
                              validate_certs=p['validate_certs'], ca_path=p['ca_path'])
        result = run_benchmark(
            client, model=p['model'], num_requests=p['num_requests'], concurrency=p['concurrency'],
            input_len=p['input_len'], output_len=p['output_len'], ignore_eos=p['ignore_eos'],
            prompt=p['prompt'], seed=p['seed'], num_warmups=p['num_warmups'], percentiles=p['percentiles'],
            max_error_messages=p['max_error_messages'], wait_timeout=p['wait_timeout'],
            wait_interval=p['wait_interval'])
    except OpenAIError as exc:
        module.fail_json(msg=exc.msg)

    for warning in result.pop('warnings', []):
        module.warn(warning)
    result['changed'] = False
    first_error = (result['error_messages'] or ['(see error_messages)'])[0]
    if result['completed'] == 0:
        module.fail_json(msg='All %d benchmark requests failed; first error: %s'
                         % (result['errors'], first_error), **result)
    if p['fail_on_error'] and result['errors']:
        module.fail_json(msg='%d of %d benchmark requests failed; first error: %s'
                         % (result['errors'], result['num_requests'], first_error), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
