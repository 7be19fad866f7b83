# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Closed-loop serving benchmark against ``/v1/completions`` (streaming).

``num_requests`` requests are sent by ``concurrency`` worker threads
(``concurrent.futures``), like ``vllm bench serve --max-concurrency C
--request-rate inf``. Each request streams with
``stream_options: {include_usage: true}`` so token counts come from the
server; when a server sends no usage, output tokens are the number of
streamed chunks (one token per chunk for vLLM by default).
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.llmops.vllm.plugins.module_utils._bench_stats import (
    DEFAULT_PERCENTILES,
    calculate_metrics,
)
from ansible_collections.llmops.vllm.plugins.module_utils._openai_client import (
    OpenAIError,
    check_model_served,
    retry_until,
)

ENDPOINT = '/v1/completions'

# Common English words; with a leading space each is a single token in the
# usual BPE vocabularies (Llama, Qwen, Mistral, GPT-2 ...), so N words make a
# prompt of roughly N tokens (plus a BOS token on some models).
WORDS = (
    'the of and to in a is that for it as was with be by on not he this are or his from at which '
    'but have an had they you were their one all we can her has there been if more when will would '
    'who so no time people year way day man thing woman life child world school state family student '
    'group country problem hand part place case week company system program question work government '
    'number night point home water room mother area money story fact month lot right study book eye job '
    'word business issue side kind head house service friend father power hour game line end member law '
    'car city community name president team minute idea kid body information back parent face others '
    'level office door health person art war history party result change morning reason research girl '
    'guy moment air teacher force education'
).split()

# Optional request fields a non-vLLM server may reject with HTTP 400.
OPTIONAL_FIELDS = ('ignore_eos', 'stream_options')


def generate_prompt(input_len, seed):
    """A prompt of roughly ``input_len`` tokens; different per seed, so that
    prefix caching cannot serve one request from another's KV cache."""
    rng = random.Random(seed)
    return ' '.join(rng.choice(WORDS) for dummy in range(max(1, int(input_len))))


def measure_tokens_per_word(client, model):
    """Mean prompt tokens per generated word with the server's tokenizer (vLLM's ``POST /tokenize``).

    The prompts draw their words uniformly from ``WORDS``, so tokenizing the
    word list once gives the expected tokens per word. Small test vocabularies
    split many of the words, and ``input_len`` words would make a much longer
    prompt than ``input_len`` tokens. ``None`` when the server cannot tell (no
    ``/tokenize``: non-vLLM servers).
    """
    try:
        dummy, data = client.request_json('POST', '/tokenize', dict(model=model, prompt=' '.join(WORDS)))
    except OpenAIError:
        return None
    count = data.get('count') if isinstance(data, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return None
    return count / float(len(WORDS))


def build_payload(model, prompt, output_len, ignore_eos=True, include_usage=True):
    payload = dict(model=model, prompt=prompt, max_tokens=output_len, stream=True)
    if include_usage:
        payload['stream_options'] = dict(include_usage=True)
    if ignore_eos:
        payload['ignore_eos'] = True
    return payload


def _rejected_field(exc, payload):
    """The optional field a 400/422 complains about, if any."""
    if exc.status not in (400, 422):
        return None
    text = ('%s %s' % (exc.server_message or '', exc.msg)).lower()
    for field in OPTIONAL_FIELDS:
        if field in payload and field in text:
            return field
    return None


def _one_request(client, payload, estimated_prompt_tokens):
    try:
        res = client.stream(ENDPOINT, payload)
    except OpenAIError as exc:
        return dict(success=False, error=exc.msg)
    except Exception as exc:  # pylint: disable=broad-except
        return dict(success=False, error='%s: %s' % (exc.__class__.__name__, exc))
    prompt_tokens = estimated_prompt_tokens
    if res.usage and isinstance(res.usage.get('prompt_tokens'), int):
        prompt_tokens = res.usage['prompt_tokens']
    return dict(success=True, prompt_tokens=prompt_tokens, output_tokens=res.output_tokens,
                ttft=res.ttft, itl=res.itl, latency=res.latency, usage_source=res.usage_source,
                start_time=res.start_time)


def _run_all(client, payloads, estimates, concurrency):
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(_one_request, client, p, e) for p, e in zip(payloads, estimates)]
        return [f.result() for f in futures]


def run_benchmark(client, model=None, num_requests=20, concurrency=4, input_len=128, output_len=128,
                  ignore_eos=True, prompt=None, seed=0, num_warmups=0, percentiles=DEFAULT_PERCENTILES,
                  max_error_messages=5, wait_timeout=0, wait_interval=1, sleep=time.sleep):
    """Run the benchmark; raises :class:`OpenAIError` when it cannot start.

    Before the timed run: the model list is fetched (retrying for
    ``wait_timeout`` seconds while the server is not up), the model is
    resolved/validated, and one untimed request checks the setup, dropping
    ``ignore_eos`` / ``stream_options`` if the server rejects them.
    """
    if num_requests < 1:
        raise OpenAIError('num_requests must be at least 1', kind='config')
    if concurrency < 1:
        raise OpenAIError('concurrency must be at least 1', kind='config')
    if output_len < 1:
        raise OpenAIError('output_len must be at least 1', kind='config')

    def list_models():
        try:
            return client.models()[1]
        except OpenAIError as exc:
            return exc

    served, attempts, dummy = retry_until(
        list_models, wait_timeout, wait_interval,
        lambda r: not isinstance(r, OpenAIError) or not r.retriable, sleep=sleep)
    if isinstance(served, OpenAIError):
        raise served
    models_url = client.url('/v1/models')
    if model:
        check_model_served(model, served, models_url)
    elif served:
        model = served[0]
    else:
        raise OpenAIError('%s serves no models' % models_url, kind='model_not_found', url=models_url)

    tokens_per_word = None
    if prompt:
        prompts = [prompt] * num_requests
        estimate = len(prompt.split())
        estimates = [estimate] * num_requests
        prompt_words = None
    else:
        # Scale the word count so the prompts have about input_len tokens with this server's tokenizer.
        tokens_per_word = measure_tokens_per_word(client, model)
        prompt_words = max(1, int(round(input_len / tokens_per_word))) if tokens_per_word else int(input_len)
        prompts = [generate_prompt(prompt_words, seed + i) for i in range(num_requests)]
        estimates = [int(input_len)] * num_requests

    use_ignore_eos = bool(ignore_eos)
    include_usage = True
    warnings = []
    # Untimed preflight, like vLLM's "initial single prompt test run".
    while True:
        payload = build_payload(model, prompts[0], output_len, use_ignore_eos, include_usage)
        try:
            client.stream(ENDPOINT, payload)
            break
        except OpenAIError as exc:
            field = _rejected_field(exc, payload)
            if field == 'ignore_eos':
                use_ignore_eos = False
                warnings.append('The server rejected ignore_eos; output lengths may be shorter than output_len.')
                continue
            if field == 'stream_options':
                include_usage = False
                warnings.append('The server rejected stream_options; output tokens are counted as stream chunks.')
                continue
            exc.msg = 'The initial test request failed, not starting the benchmark: %s' % exc.msg
            raise exc

    if num_warmups > 0:
        warm = [build_payload(model, prompts[i % num_requests], output_len, use_ignore_eos, include_usage)
                for i in range(num_warmups)]
        _run_all(client, warm, [0] * num_warmups, concurrency)

    payloads = [build_payload(model, p, output_len, use_ignore_eos, include_usage) for p in prompts]
    start = time.perf_counter()
    outputs = _run_all(client, payloads, estimates, concurrency)
    duration = time.perf_counter() - start

    metrics = calculate_metrics(outputs, duration, percentiles)
    sources = set(o['usage_source'] for o in outputs if o.get('success'))
    if not sources:
        usage_source = None
    elif len(sources) == 1:
        usage_source = sources.pop()
    else:
        usage_source = 'mixed'
    metrics.update(
        model=model,
        endpoint=ENDPOINT,
        num_requests=num_requests,
        concurrency=concurrency,
        input_len=input_len if not prompt else None,
        prompt_words=prompt_words,
        tokens_per_word=round(tokens_per_word, 3) if tokens_per_word else None,
        output_len=output_len,
        ignore_eos_sent=use_ignore_eos,
        usage_source=usage_source,
        error_messages=[o['error'] for o in outputs if not o.get('success')][:max(0, max_error_messages)],
        warnings=warnings,
        wait_attempts=attempts,
    )
    return metrics
