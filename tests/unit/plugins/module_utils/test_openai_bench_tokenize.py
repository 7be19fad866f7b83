# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""openai_benchmark sizes its prompts with the server's tokenizer (vLLM's POST /tokenize).

A FAKE server whose /tokenize counts every word as 3 tokens, like the tiny test model's small
vocabulary splits words (measured on vLLM serving it: ~2.4 tokens per word); without the
calibration a 64-"token" prompt was 150 tokens there and the benchmark was not comparable with
`vllm bench serve` (benchmarks/compare_bench.sh).
"""

from __future__ import annotations

from ansible_collections.llmops.vllm.plugins.module_utils._openai_bench import (
    WORDS,
    measure_tokens_per_word,
    run_benchmark,
)
from ansible_collections.llmops.vllm.plugins.module_utils._openai_client import OpenAIClient
from ansible_collections.llmops.vllm.tests.unit.openai_test_server import (
    fake_openai_routes,
    send_json,
    serve,
)


def tokenizing_routes(tokens_per_word=3):
    routes = fake_openai_routes(models=['tiny'])

    def tokenize(handler, body):
        words = len(body['prompt'].split())
        send_json(handler, 200, {'count': words * tokens_per_word, 'max_model_len': 512,
                                 'tokens': list(range(words * tokens_per_word)), 'token_strs': None})

    routes[('POST', '/tokenize')] = tokenize
    return routes


def completions(srv):
    return [r for r in srv.requests if r['path'] == '/v1/completions']


def test_prompts_are_scaled_to_input_len_tokens():
    with serve(tokenizing_routes(3)) as srv:
        res = run_benchmark(OpenAIClient(srv.url, timeout=2), num_requests=4, concurrency=2, input_len=60,
                            output_len=3, seed=7)
    assert res['tokens_per_word'] == 3.0
    assert res['prompt_words'] == 20
    sent = completions(srv)
    assert all(len(r['body']['prompt'].split()) == 20 for r in sent)
    assert len(set(r['body']['prompt'] for r in sent[1:])) == 4  # still one prompt per request
    tok = [r for r in srv.requests if r['path'] == '/tokenize']
    assert len(tok) == 1 and tok[0]['body']['model'] == 'tiny'


def test_without_tokenize_input_len_words_are_sent():
    with serve(fake_openai_routes()) as srv:  # 404 on /tokenize, like non-vLLM servers
        res = run_benchmark(OpenAIClient(srv.url, timeout=2), num_requests=2, input_len=12, output_len=2)
    assert res['tokens_per_word'] is None and res['prompt_words'] == 12
    assert all(len(r['body']['prompt'].split()) == 12 for r in completions(srv))


def test_fixed_prompt_is_not_tokenized():
    with serve(tokenizing_routes()) as srv:
        res = run_benchmark(OpenAIClient(srv.url, timeout=2), num_requests=1, prompt='Hi there', output_len=2)
    assert res['tokens_per_word'] is None and res['prompt_words'] is None
    assert not [r for r in srv.requests if r['path'] == '/tokenize']


def test_measure_tokens_per_word_ignores_odd_replies():
    routes = fake_openai_routes()
    routes[('POST', '/tokenize')] = lambda h, b: send_json(h, 200, {'count': 'many'})
    with serve(routes) as srv:
        assert measure_tokens_per_word(OpenAIClient(srv.url, timeout=2), 'fake-model') is None
    with serve(tokenizing_routes(2)) as srv:
        assert measure_tokens_per_word(OpenAIClient(srv.url, timeout=2), 'tiny') == 2.0
        # The whole word list once: the expected cost of a uniformly drawn word.
        assert srv.requests[-1]['body']['prompt'] == ' '.join(WORDS)


def test_at_least_one_word():
    with serve(tokenizing_routes(50)) as srv:
        res = run_benchmark(OpenAIClient(srv.url, timeout=2), num_requests=1, input_len=4, output_len=2)
    assert res['prompt_words'] == 1
