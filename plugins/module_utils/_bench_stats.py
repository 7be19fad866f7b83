# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Serving benchmark statistics, stdlib only.

The definitions follow ``vllm bench serve`` (``vllm/benchmarks/serve.py``,
``calculate_metrics``) so numbers are comparable:

* request throughput = completed requests / benchmark duration
* output throughput = total output tokens / benchmark duration
* total token throughput = (total input + total output tokens) / duration
* TTFT = time from sending a request to its first streamed chunk
* ITL = gaps between successive streamed token chunks, pooled over all requests
* TPOT = (latency - TTFT) / (output tokens - 1), for requests with more than one output token
* E2EL = time from sending a request to its last token chunk
* percentiles = linear interpolation between closest ranks (numpy's default
  ``np.percentile`` method); std is the population standard deviation.

Failed requests only count towards the error count. Unlike vLLM (which
reports 0), statistics over an empty set are ``None``.
"""

from __future__ import annotations

import math

DEFAULT_PERCENTILES = (50, 90, 99)


def percentile(values, pct):
    """``numpy.percentile(values, pct)`` (method ``linear``) without numpy."""
    data = sorted(values)
    if not data:
        return None
    if not 0 <= pct <= 100:
        raise ValueError('percentile must be between 0 and 100, got %r' % (pct,))
    if len(data) == 1:
        return float(data[0])
    rank = (len(data) - 1) * (pct / 100.0)
    low = int(math.floor(rank))
    high = min(low + 1, len(data) - 1)
    frac = rank - low
    return float(data[low] + (data[high] - data[low]) * frac)


def mean(values):
    values = list(values)
    return float(sum(values)) / len(values) if values else None


def pstdev(values):
    values = list(values)
    if not values:
        return None
    avg = mean(values)
    return math.sqrt(sum((v - avg) ** 2 for v in values) / len(values))


def percentile_key(pct):
    """``50`` -> ``p50``, ``99.9`` -> ``p99.9``."""
    return 'p%s' % ('%g' % pct)


def summarize(values, percentiles=DEFAULT_PERCENTILES, scale=1.0, ndigits=3):
    """mean/std/min/max and the requested percentiles of ``values * scale``."""
    values = [v * scale for v in values]

    def rnd(x):
        return None if x is None else round(x, ndigits)

    out = dict(
        count=len(values),
        mean=rnd(mean(values)),
        std=rnd(pstdev(values)),
        min=rnd(min(values)) if values else None,
        max=rnd(max(values)) if values else None,
    )
    for pct in percentiles:
        out[percentile_key(pct)] = rnd(percentile(values, pct))
    return out


def calculate_metrics(outputs, duration_s, percentiles=DEFAULT_PERCENTILES, ndigits=3):
    """Aggregate per-request outputs.

    Each output is a dict with ``success`` (bool), ``prompt_tokens`` (int),
    ``output_tokens`` (int), ``ttft`` (s), ``itl`` (list of s), ``latency`` (s)
    and ``error`` (str, for failures).
    """
    completed = 0
    errors = 0
    total_input = 0
    total_output = 0
    ttfts, tpots, itls, e2els = [], [], [], []
    for out in outputs:
        if not out.get('success'):
            errors += 1
            continue
        completed += 1
        output_len = int(out.get('output_tokens') or 0)
        total_input += int(out.get('prompt_tokens') or 0)
        total_output += output_len
        ttft = out.get('ttft')
        latency = out.get('latency')
        if ttft is not None:
            ttfts.append(ttft)
        if latency is not None:
            e2els.append(latency)
        if output_len > 1 and latency is not None and ttft is not None:
            tpots.append((latency - ttft) / (output_len - 1))
        itls.extend(out.get('itl') or [])

    def rate(count):
        return round(count / duration_s, ndigits) if duration_s and duration_s > 0 else None

    return dict(
        completed=completed,
        errors=errors,
        duration_s=round(duration_s, ndigits) if duration_s is not None else None,
        total_input_tokens=total_input,
        total_output_tokens=total_output,
        request_throughput=rate(completed),
        output_throughput=rate(total_output),
        total_token_throughput=rate(total_input + total_output),
        ttft_ms=summarize(ttfts, percentiles, 1000.0, ndigits),
        tpot_ms=summarize(tpots, percentiles, 1000.0, ndigits),
        itl_ms=summarize(itls, percentiles, 1000.0, ndigits),
        e2el_ms=summarize(e2els, percentiles, 1000.0, ndigits),
    )
