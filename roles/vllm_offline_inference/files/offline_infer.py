# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline batch inference with vLLM's ``LLM`` + ``SamplingParams`` (the guide's batch job).

Runnable on its own with the Python of a venv that has vLLM::

    /opt/vllm/venv/bin/python offline_infer.py --model Qwen/Qwen2.5-1.5B-Instruct \\
        --prompts prompts.txt --output results.jsonl --max-tokens 64 --temperature 0.8

Prompts: a text file with one prompt per line (blank lines skipped), or JSON Lines with
``{"prompt": "..."}`` per line (``--format auto`` decides by the ``.jsonl``/``.json`` extension;
an ``id`` field is carried over to the result).

Results: JSON Lines, one per prompt, in input order: ``index``, ``prompt``, ``output``,
``prompt_tokens``, ``output_tokens``, ``finish_reason`` (and ``id``). They are written to
``OUTPUT.partial`` chunk by chunk and renamed to ``OUTPUT`` when every prompt is done.

Progress: after loading and after every chunk of ``--chunk-size`` prompts, ``--progress FILE``
is replaced by a JSON object (``state`` loading|running|done|failed, ``total``, ``done``,
``output_tokens``, ``elapsed_s``, ``tokens_per_s``, ``eta_s``, ``job_id`` ...) and a line is
printed. With ``--resume`` a run whose progress file has the same ``--job-id`` continues after
the prompts already in ``OUTPUT.partial``.

Exit status: 0 done, 1 generation failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

SCRIPT_VERSION = 1


class InputError(Exception):
    pass


def read_prompts(path, fmt='auto'):
    """``[{'prompt': str, 'id': optional}]`` from a text or JSON Lines file."""
    if fmt == 'auto':
        fmt = 'jsonl' if path.lower().endswith(('.jsonl', '.json', '.ndjson')) else 'text'
    prompts = []
    with open(path, 'r', encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip('\r\n')
            if not line.strip():
                continue
            if fmt == 'text':
                prompts.append(dict(prompt=line))
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise InputError('%s line %d is not valid JSON: %s' % (path, lineno, exc))
            if isinstance(item, str):
                item = dict(prompt=item)
            if not isinstance(item, dict) or not isinstance(item.get('prompt'), str):
                raise InputError('%s line %d: expected {"prompt": "..."}' % (path, lineno))
            entry = dict(prompt=item['prompt'])
            if 'id' in item:
                entry['id'] = item['id']
            prompts.append(entry)
    if not prompts:
        raise InputError('%s holds no prompts' % path)
    return prompts


def write_json_atomic(path, data):
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(data, f, sort_keys=True)
        f.write('\n')
    os.replace(tmp, path)


def read_json(path):
    try:
        with open(path, 'r', encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def count_done(partial):
    """Complete result lines already in ``partial`` (a torn last line is dropped)."""
    good = []
    try:
        with open(partial, 'r', encoding='utf-8') as f:
            for line in f:
                if not line.endswith('\n'):
                    break
                try:
                    good.append(json.loads(line))
                except ValueError:
                    break
    except OSError:
        return []
    return good


def result_record(index, item, request_output):
    """One output line from a vLLM ``RequestOutput``."""
    completion = request_output.outputs[0] if request_output.outputs else None
    rec = dict(
        index=index,
        prompt=item['prompt'],
        output=completion.text if completion is not None else '',
        prompt_tokens=len(request_output.prompt_token_ids or []),
        output_tokens=len(completion.token_ids) if completion is not None else 0,
        finish_reason=completion.finish_reason if completion is not None else None,
    )
    if 'id' in item:
        rec['id'] = item['id']
    return rec


class Progress(object):
    """The progress file and lines; rates count only what this run generated (not resumed results)."""

    def __init__(self, path, total, job_id, quiet=False, clock=time.time):
        self.path = path
        self.clock = clock
        self.quiet = quiet
        self.lock = threading.Lock()
        self.started = clock()
        self.gen_started = None
        self.gen_base_done = 0
        self.gen_base_tokens = 0
        self.state = dict(state='loading', total=total, done=0, prompt_tokens=0, output_tokens=0,
                          elapsed_s=0.0, load_s=None, tokens_per_s=None, eta_s=None, job_id=job_id,
                          pid=os.getpid(), script_version=SCRIPT_VERSION, error=None)

    def start_generation(self):
        self.gen_started = self.clock()
        self.gen_base_done = self.state['done']
        self.gen_base_tokens = self.state['output_tokens']
        self.state['load_s'] = round(self.gen_started - self.started, 3)

    def update(self, **kw):
        with self.lock:
            self._update(**kw)

    def heartbeat(self, interval, stop):
        """Refresh ``elapsed_s`` in the file every ``interval`` s while the model loads or a chunk runs."""
        while not stop.wait(interval):
            with self.lock:
                self._update(_quiet=True)

    def _update(self, _quiet=False, **kw):
        self.state.update(kw)
        now = self.clock()
        st = self.state
        st['elapsed_s'] = round(now - self.started, 3)
        if self.gen_started is not None and now > self.gen_started:
            gen_elapsed = now - self.gen_started
            fresh = st['done'] - self.gen_base_done
            st['tokens_per_s'] = round((st['output_tokens'] - self.gen_base_tokens) / gen_elapsed, 3)
            st['eta_s'] = round((st['total'] - st['done']) * gen_elapsed / fresh, 1) if fresh > 0 else None
        if self.path:
            write_json_atomic(self.path, st)
        if not self.quiet and not _quiet:
            print('[offline_infer] %s %d/%d prompts, %d output tokens, %.1fs%s%s' % (
                st['state'], st['done'], st['total'], st['output_tokens'], st['elapsed_s'],
                ', %.1f tok/s' % st['tokens_per_s'] if st['tokens_per_s'] else '',
                ', ETA %.0fs' % st['eta_s'] if st['eta_s'] is not None and st['state'] == 'running' else ''),
                flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Offline batch inference with vLLM (LLM + SamplingParams).')
    p.add_argument('--model', required=True, help='model id or local model directory')
    p.add_argument('--prompts', required=True, help='prompts file: text (one per line) or JSONL {"prompt": ...}')
    p.add_argument('--output', required=True, help='results JSONL')
    p.add_argument('--format', choices=['auto', 'text', 'jsonl'], default='auto')
    p.add_argument('--progress', help='progress JSON file, replaced after every chunk')
    p.add_argument('--log', help='append stdout and stderr (also of vLLM worker processes) to this file')
    p.add_argument('--env-file', help='JSON object of environment variables to set before vLLM loads '
                                      '(keeps secrets such as HF_TOKEN off the command line)')
    p.add_argument('--job-id', default='', help='identifies the inputs; --resume only continues the same job')
    p.add_argument('--resume', action='store_true', help='continue after the results already in OUTPUT.partial')
    p.add_argument('--chunk-size', type=int, default=32, help='prompts per generate() call (progress granularity)')
    p.add_argument('--temperature', type=float, default=0.8)
    p.add_argument('--top-p', type=float, default=0.95)
    p.add_argument('--max-tokens', type=int, default=64)
    p.add_argument('--seed', type=int, default=None)
    p.add_argument('--tokenizer', default=None)
    p.add_argument('--dtype', default='auto')
    p.add_argument('--max-model-len', type=int, default=None)
    p.add_argument('--enforce-eager', action='store_true', help='no CUDA graphs / torch.compile (fast start)')
    p.add_argument('--trust-remote-code', action='store_true')
    p.add_argument('--llm-kwargs', default='{}', help='JSON object of further LLM(...) arguments')
    p.add_argument('--sampling-kwargs', default='{}', help='JSON object of further SamplingParams(...) arguments')
    p.add_argument('--quiet', action='store_true', help='no progress lines on stdout')
    p.add_argument('--heartbeat', type=float, default=5.0,
                   help='seconds between refreshes of the progress file while loading or generating (0: off)')
    args = p.parse_args(argv)
    if args.chunk_size < 1:
        p.error('--chunk-size must be at least 1')
    if args.max_tokens < 1:
        p.error('--max-tokens must be at least 1')
    for name in ('llm_kwargs', 'sampling_kwargs'):
        try:
            value = json.loads(getattr(args, name))
        except ValueError as exc:
            p.error('--%s is not JSON: %s' % (name.replace('_', '-'), exc))
        if not isinstance(value, dict):
            p.error('--%s must be a JSON object' % name.replace('_', '-'))
        setattr(args, name, value)
    return args


def llm_arguments(args):
    kwargs = dict(model=args.model, dtype=args.dtype)
    if args.tokenizer:
        kwargs['tokenizer'] = args.tokenizer
    if args.max_model_len:
        kwargs['max_model_len'] = args.max_model_len
    if args.enforce_eager:
        kwargs['enforce_eager'] = True
    if args.trust_remote_code:
        kwargs['trust_remote_code'] = True
    if args.seed is not None:
        kwargs['seed'] = args.seed
    kwargs.update(args.llm_kwargs)
    return kwargs


def sampling_arguments(args):
    kwargs = dict(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens)
    if args.seed is not None:
        kwargs['seed'] = args.seed
    kwargs.update(args.sampling_kwargs)
    return kwargs


def _redirect_output(log_path):
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def run(args, vllm_module=None):
    """The job; returns the exit status. ``vllm_module`` replaces ``import vllm`` (tests)."""
    try:
        prompts = read_prompts(args.prompts, args.format)
    except (OSError, InputError) as exc:
        print('offline_infer: %s' % exc, file=sys.stderr)
        return 2
    total = len(prompts)
    partial = args.output + '.partial'
    progress = Progress(args.progress, total, args.job_id, quiet=args.quiet)

    previous = read_json(args.progress) if args.progress else None
    done_records = []
    if args.resume and previous and previous.get('job_id') == args.job_id:
        done_records = count_done(partial)[:total]
    # Rewrite the kept records so a torn last line is gone; otherwise start empty.
    with open(partial, 'w', encoding='utf-8') as f:
        for rec in done_records:
            f.write(json.dumps(rec, sort_keys=True) + '\n')
    done = len(done_records)
    totals = dict(done=done, prompt_tokens=sum(r.get('prompt_tokens', 0) for r in done_records),
                  output_tokens=sum(r.get('output_tokens', 0) for r in done_records))
    progress.update(state='loading', resumed_from=done, **totals)
    stop = threading.Event()
    if args.progress and args.heartbeat > 0:
        threading.Thread(target=progress.heartbeat, args=(args.heartbeat, stop), daemon=True).start()

    try:
        if vllm_module is None:
            import vllm as vllm_module  # pylint: disable=import-outside-toplevel
        llm = None
        params = vllm_module.SamplingParams(**sampling_arguments(args))
        if done < total:
            llm = vllm_module.LLM(**llm_arguments(args))
        progress.start_generation()
        progress.update(state='running')
        with open(partial, 'a', encoding='utf-8') as out:
            for start in range(done, total, args.chunk_size):
                chunk = prompts[start:start + args.chunk_size]
                outputs = llm.generate([p['prompt'] for p in chunk], params, use_tqdm=False)
                if len(outputs) != len(chunk):
                    raise RuntimeError('generate() returned %d results for %d prompts' % (len(outputs), len(chunk)))
                for offset, (item, req) in enumerate(zip(chunk, outputs)):
                    rec = result_record(start + offset, item, req)
                    out.write(json.dumps(rec, sort_keys=True) + '\n')
                    totals['prompt_tokens'] += rec['prompt_tokens']
                    totals['output_tokens'] += rec['output_tokens']
                out.flush()
                os.fsync(out.fileno())
                totals['done'] = start + len(chunk)
                progress.update(state='running', **totals)
    except Exception as exc:  # pylint: disable=broad-except
        stop.set()
        progress.update(state='failed', error='%s: %s' % (exc.__class__.__name__, exc), **totals)
        print('offline_infer: generation failed: %s: %s' % (exc.__class__.__name__, exc), file=sys.stderr)
        return 1
    stop.set()
    os.replace(partial, args.output)
    progress.update(state='done', output=os.path.abspath(args.output), **totals)
    return 0


def load_env_file(path, environ=None):
    environ = os.environ if environ is None else environ
    with open(path, 'r', encoding='utf-8') as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise InputError('%s must hold a JSON object of environment variables' % path)
    for key, value in data.items():
        environ[str(key)] = str(value)


def main(argv=None):
    args = parse_args(argv)
    os.umask(0o027)
    if args.log:
        _redirect_output(args.log)
    if args.env_file:
        try:
            load_env_file(args.env_file)
        except (OSError, ValueError, InputError) as exc:
            print('offline_infer: cannot read --env-file: %s' % exc, file=sys.stderr)
            return 2
    # vLLM leaves its IPC sockets in TMPDIR: give it a private one and remove it afterwards.
    scratch = tempfile.mkdtemp(prefix='offline_infer.')
    os.environ['TMPDIR'] = scratch
    tempfile.tempdir = scratch
    try:
        return run(args)
    finally:
        tempfile.tempdir = None
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
