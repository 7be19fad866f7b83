#!/usr/bin/env python3
"""Compare result files of benchmarks/compare_bench.sh: ours (openai_benchmark) vs vLLM's bench client.

    compare_bench.py DIR      # DIR holds run<N>-ours.json and run<N>-vllm.json

Prints, per run and as the mean (and median) over runs, both clients' numbers and the difference of
ours relative to vLLM's in %; exits 1 when the mean output-throughput difference is beyond --tolerance.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics
import sys

# (label, ours key path, vLLM key, decimals)
METRICS = (
    ('output tok/s', ('output_throughput',), 'output_throughput', 2),
    ('requests/s', ('request_throughput',), 'request_throughput', 3),
    ('total tok/s', ('total_token_throughput',), 'total_token_throughput', 2),
    ('mean TTFT ms', ('ttft_ms', 'mean'), 'mean_ttft_ms', 1),
    ('mean TPOT ms', ('tpot_ms', 'mean'), 'mean_tpot_ms', 2),
    ('mean ITL ms', ('itl_ms', 'mean'), 'mean_itl_ms', 2),
    ('mean E2EL ms', ('e2el_ms', 'mean'), 'mean_e2el_ms', 1),
    ('duration s', ('duration_s',), 'duration', 2),
    ('completed', ('completed',), 'completed', 0),
    ('input tokens', ('total_input_tokens',), 'total_input_tokens', 0),
    ('output tokens', ('total_output_tokens',), 'total_output_tokens', 0),
)


def dig(data, path):
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def pct(ours, theirs):
    if ours is None or not theirs:
        return None
    return (ours - theirs) / theirs * 100.0


def fmt(value, digits):
    return '-' if value is None else '%.*f' % (digits, value)


def load_runs(directory):
    runs = {}
    for path in glob.glob(os.path.join(directory, 'run*-*.json')):
        m = re.match(r'run(\d+)-(ours|vllm)\.json$', os.path.basename(path))
        if m:
            with open(path, encoding='utf-8') as f:
                runs.setdefault(int(m.group(1)), {})[m.group(2)] = json.load(f)
    return dict((n, r) for n, r in sorted(runs.items()) if set(r) == {'ours', 'vllm'})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('directory')
    ap.add_argument('--tolerance', type=float, default=5.0, help='allowed |diff| of output tok/s in %% (5)')
    ap.add_argument('--json', help='also write the comparison as JSON here')
    args = ap.parse_args(argv)
    runs = load_runs(args.directory)
    if not runs:
        print('no complete run pairs (run<N>-ours.json + run<N>-vllm.json) in %s' % args.directory, file=sys.stderr)
        return 2
    summary = dict(runs=[], mean={})
    diffs = dict((label, []) for label, _, _, _ in METRICS)
    for n, pair in runs.items():
        print('run %d' % n)
        print('  %-14s %12s %12s %9s' % ('metric', 'ours', 'vllm', 'diff %'))
        row = dict(run=n)
        for label, path, vkey, digits in METRICS:
            ours, theirs = dig(pair['ours'], path), pair['vllm'].get(vkey)
            d = pct(ours, theirs)
            if d is not None:
                diffs[label].append(d)
            row[label] = dict(ours=ours, vllm=theirs, diff_pct=None if d is None else round(d, 2))
            print('  %-14s %12s %12s %9s' % (label, fmt(ours, digits), fmt(theirs, digits),
                                             '-' if d is None else '%+.1f' % d))
        summary['runs'].append(row)
    print('over %d run(s): diff of ours vs vLLM, mean and median' % len(runs))
    summary['median'] = {}
    for label, values in diffs.items():
        if values:
            mean = sum(values) / len(values)
            median = statistics.median(values)
            summary['mean'][label] = round(mean, 2)
            summary['median'][label] = round(median, 2)
            print('  %-14s %+7.1f %%  %+7.1f %%   (runs: %s)' % (label, mean, median,
                                                              ', '.join('%+.1f' % v for v in values)))
    out = summary['mean'].get('output tok/s')
    ok = out is not None and abs(out) <= args.tolerance
    summary['tolerance_pct'] = args.tolerance
    summary['within_tolerance'] = ok
    print('output tok/s: %s (|%.1f %%| %s %.1f %%)' % ('OK' if ok else 'OUT OF TOLERANCE', out or 0,
                                                    '<=' if ok else '>', args.tolerance))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(summary, f, indent=2, sort_keys=True)
            f.write('\n')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
