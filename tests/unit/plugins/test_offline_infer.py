# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vllm_offline_inference role's job script (roles/vllm_offline_inference/files/offline_infer.py).

vLLM itself is replaced by a FAKE ``LLM``/``SamplingParams`` pair (canned
outputs of the real ``RequestOutput`` shape), so only the script's own logic
is tested here: prompt parsing, chunking, results, progress, resume, errors.
The real job runs against vLLM in Molecule (molecule/default/side_effect.yml).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types

import pytest

from ansible_collections.llmops.vllm.tests.unit.conftest import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, 'roles', 'vllm_offline_inference', 'files', 'offline_infer.py')


def load_script():
    spec = importlib.util.spec_from_file_location('offline_infer', SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


oi = load_script()


class FakeCompletion(object):
    def __init__(self, text, token_ids, finish_reason):
        self.text = text
        self.token_ids = token_ids
        self.finish_reason = finish_reason


class FakeRequestOutput(object):
    def __init__(self, prompt, prompt_token_ids, outputs):
        self.prompt = prompt
        self.prompt_token_ids = prompt_token_ids
        self.outputs = outputs


def fake_vllm(fail_on_call=None):
    """A module with LLM and SamplingParams; records what it was given."""
    mod = types.SimpleNamespace(calls=[], llm_kwargs=None, sampling_kwargs=None)

    class SamplingParams(object):
        def __init__(self, **kwargs):
            mod.sampling_kwargs = kwargs
            self.max_tokens = kwargs['max_tokens']

    class LLM(object):
        def __init__(self, **kwargs):
            mod.llm_kwargs = kwargs

        def generate(self, prompts, params, use_tqdm=True):
            mod.calls.append(list(prompts))
            if fail_on_call is not None and len(mod.calls) == fail_on_call:
                raise RuntimeError('engine died')
            outs = []
            for p in prompts:
                n = min(params.max_tokens, 3 + len(p) % 4)
                outs.append(FakeRequestOutput(p, list(range(len(p.split()))),
                                              [FakeCompletion(' x' * n, list(range(n)),
                                                              'length' if n == params.max_tokens else 'stop')]))
            return outs

    mod.LLM = LLM
    mod.SamplingParams = SamplingParams
    return mod


def args_for(tmp_path, prompts, *extra, name='prompts.txt'):
    path = tmp_path / name
    path.write_text(prompts, encoding='utf-8')
    return oi.parse_args(['--model', '/models/tiny', '--prompts', str(path), '--output', str(tmp_path / 'out.jsonl'),
                          '--progress', str(tmp_path / 'progress.json'), '--quiet'] + list(extra))


def read_jsonl(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f]


def test_text_prompts_skip_blank_lines(tmp_path):
    path = tmp_path / 'p.txt'
    path.write_text('first prompt\n\n  \nsecond: with "quotes"\r\nthird\n', encoding='utf-8')
    assert oi.read_prompts(str(path)) == [{'prompt': 'first prompt'}, {'prompt': 'second: with "quotes"'},
                                          {'prompt': 'third'}]


def test_jsonl_prompts_by_extension_keep_ids(tmp_path):
    path = tmp_path / 'p.jsonl'
    path.write_text('{"prompt": "a", "id": 7}\n"plain string"\n\n{"prompt": "multi\\nline"}\n', encoding='utf-8')
    assert oi.read_prompts(str(path)) == [{'prompt': 'a', 'id': 7}, {'prompt': 'plain string'},
                                          {'prompt': 'multi\nline'}]
    # The same file forced to text: every line is a prompt as it is.
    assert len(oi.read_prompts(str(path), 'text')) == 3


@pytest.mark.parametrize('content, error', [
    ('{"prompt": "a"}\n{not json\n', 'line 2 is not valid JSON'),
    ('{"text": "a"}\n', 'line 1: expected {"prompt": "..."}'),
    ('\n\n', 'holds no prompts'),
])
def test_bad_jsonl(tmp_path, content, error):
    path = tmp_path / 'p.jsonl'
    path.write_text(content, encoding='utf-8')
    with pytest.raises(oi.InputError, match=error.replace('(', r'\(').replace('{', r'\{')):
        oi.read_prompts(str(path))


def test_run_writes_one_result_per_prompt_in_order(tmp_path):
    prompts = ['p%d %s' % (i, 'w ' * i) for i in range(5)]
    args = args_for(tmp_path, '\n'.join(prompts) + '\n', '--chunk-size', '2', '--max-tokens', '4',
                    '--temperature', '0', '--top-p', '1', '--seed', '3', '--max-model-len', '512', '--enforce-eager',
                    '--llm-kwargs', '{"swap_space": 0}', '--sampling-kwargs', '{"stop": ["\\n"]}')
    vllm = fake_vllm()
    assert oi.run(args, vllm_module=vllm) == 0
    results = read_jsonl(tmp_path / 'out.jsonl')
    assert [r['index'] for r in results] == [0, 1, 2, 3, 4]
    assert [r['prompt'] for r in results] == prompts
    for r in results:
        assert set(r) == {'index', 'prompt', 'output', 'prompt_tokens', 'output_tokens', 'finish_reason'}
        assert 0 < r['output_tokens'] <= 4 and r['prompt_tokens'] > 0
        assert r['finish_reason'] in ('stop', 'length')
    assert vllm.calls == [prompts[0:2], prompts[2:4], prompts[4:5]]  # chunks of 2
    assert vllm.llm_kwargs == dict(model='/models/tiny', dtype='auto', max_model_len=512, enforce_eager=True, seed=3,
                                   swap_space=0)
    assert vllm.sampling_kwargs == dict(temperature=0.0, top_p=1.0, max_tokens=4, seed=3, stop=['\n'])
    progress = json.loads((tmp_path / 'progress.json').read_text())
    assert progress['state'] == 'done'
    assert (progress['done'], progress['total']) == (5, 5)
    assert progress['output_tokens'] == sum(r['output_tokens'] for r in results)
    assert progress['prompt_tokens'] == sum(r['prompt_tokens'] for r in results)
    assert progress['load_s'] is not None and progress['error'] is None
    assert not os.path.exists(str(tmp_path / 'out.jsonl.partial'))


def test_failure_keeps_finished_chunks_and_resume_continues(tmp_path):
    prompts = ['prompt number %d' % i for i in range(5)]
    args = args_for(tmp_path, '\n'.join(prompts), '--chunk-size', '2', '--job-id', 'abc', '--resume')
    assert oi.run(args, vllm_module=fake_vllm(fail_on_call=2)) == 1
    progress = json.loads((tmp_path / 'progress.json').read_text())
    assert progress['state'] == 'failed' and 'engine died' in progress['error']
    assert progress['done'] == 2
    assert not (tmp_path / 'out.jsonl').exists()
    assert len(read_jsonl(tmp_path / 'out.jsonl.partial')) == 2
    # A torn last line (killed mid-write) is dropped on resume.
    with open(str(tmp_path / 'out.jsonl.partial'), 'a') as f:
        f.write('{"index": 2, "prom')

    vllm = fake_vllm()
    assert oi.run(args, vllm_module=vllm) == 0
    assert vllm.calls == [prompts[2:4], prompts[4:5]]  # only what was missing
    results = read_jsonl(tmp_path / 'out.jsonl')
    assert [r['index'] for r in results] == [0, 1, 2, 3, 4]
    progress = json.loads((tmp_path / 'progress.json').read_text())
    assert progress['resumed_from'] == 2 and progress['state'] == 'done'


def test_resume_needs_the_same_job_id(tmp_path):
    args = args_for(tmp_path, 'a\nb\nc\n', '--chunk-size', '1', '--job-id', 'one', '--resume')
    assert oi.run(args, vllm_module=fake_vllm(fail_on_call=3)) == 1
    other = args_for(tmp_path, 'a\nb\nc\n', '--chunk-size', '1', '--job-id', 'two', '--resume')
    vllm = fake_vllm()
    assert oi.run(other, vllm_module=vllm) == 0
    assert vllm.calls == [['a'], ['b'], ['c']]  # started over


def test_all_done_does_not_load_the_model(tmp_path):
    args = args_for(tmp_path, 'a\nb\n', '--job-id', 'x', '--resume')
    (tmp_path / 'out.jsonl.partial').write_text(
        ''.join(json.dumps(dict(index=i, prompt=p, output='', prompt_tokens=1, output_tokens=1, finish_reason='stop'))
                + '\n' for i, p in enumerate('ab')))
    (tmp_path / 'progress.json').write_text(json.dumps(dict(job_id='x', state='failed')))
    vllm = fake_vllm()
    assert oi.run(args, vllm_module=vllm) == 0
    assert vllm.llm_kwargs is None and vllm.calls == []
    assert len(read_jsonl(tmp_path / 'out.jsonl')) == 2


def test_missing_prompts_file_is_exit_2(tmp_path):
    args = oi.parse_args(['--model', 'm', '--prompts', str(tmp_path / 'nope.txt'), '--output', str(tmp_path / 'o')])
    assert oi.run(args, vllm_module=fake_vllm()) == 2


def test_env_file(tmp_path):
    path = tmp_path / 'env.json'
    path.write_text(json.dumps({'HF_HOME': '/x', 'VLLM_CPU_KVCACHE_SPACE': 1}))
    env = {}
    oi.load_env_file(str(path), env)
    assert env == {'HF_HOME': '/x', 'VLLM_CPU_KVCACHE_SPACE': '1'}


@pytest.mark.parametrize('argv, error', [
    (['--chunk-size', '0'], '--chunk-size must be at least 1'),
    (['--max-tokens', '0'], '--max-tokens must be at least 1'),
    (['--llm-kwargs', '[1]'], '--llm-kwargs must be a JSON object'),
    (['--sampling-kwargs', '{x'], '--sampling-kwargs is not JSON'),
])
def test_bad_arguments(capsys, argv, error):
    with pytest.raises(SystemExit):
        oi.parse_args(['--model', 'm', '--prompts', 'p', '--output', 'o'] + argv)
    assert error in capsys.readouterr().err


def test_standalone_without_vllm_fails_cleanly(tmp_path):
    """Run as a program with a Python that has no vLLM: a failed progress state, exit 1."""
    (tmp_path / 'p.txt').write_text('hello\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path / 'empty'))
    proc = subprocess.run([sys.executable, '-S', SCRIPT, '--model', 'm', '--prompts', str(tmp_path / 'p.txt'),
                           '--output', str(tmp_path / 'o.jsonl'), '--progress', str(tmp_path / 'pr.json')],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert 'generation failed' in proc.stderr
    progress = json.loads((tmp_path / 'pr.json').read_text())
    assert progress['state'] == 'failed' and 'vllm' in progress['error']


def test_heartbeat_refreshes_elapsed_while_loading(tmp_path, capsys):
    import time as _time
    seen = {}
    vllm = fake_vllm()
    real_llm = vllm.LLM

    class SlowLLM(real_llm):
        def __init__(self, **kwargs):
            # "Loading the model" until the heartbeat has refreshed elapsed_s (10 s at most: a loaded machine
            # may run the heartbeat thread late, but it must run).
            deadline = _time.monotonic() + 10
            while True:
                _time.sleep(0.05)
                seen.update(json.loads((tmp_path / 'progress.json').read_text()))
                if seen.get('elapsed_s', 0) > 0.1 or _time.monotonic() > deadline:
                    break
            super(SlowLLM, self).__init__(**kwargs)

    vllm.LLM = SlowLLM
    path = tmp_path / 'p.txt'
    path.write_text('a\nb\n')
    args = oi.parse_args(['--model', 'm', '--prompts', str(path), '--output', str(tmp_path / 'o.jsonl'),
                          '--progress', str(tmp_path / 'progress.json'), '--heartbeat', '0.05'])
    assert oi.run(args, vllm_module=vllm) == 0
    assert seen['state'] == 'loading' and seen['elapsed_s'] > 0.1
    lines = capsys.readouterr().out.splitlines()
    # Progress lines only at the start, per chunk and at the end: the heartbeat only rewrites the file.
    assert [line.split()[1] for line in lines] == ['loading', 'running', 'running', 'done']
