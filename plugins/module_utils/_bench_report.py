# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Benchmark report for several hosts: summary, Markdown, JSON and a PNG chart.

The inputs are results of ``llmops.vllm.openai_benchmark`` (one per host),
each with the host's name, a label and the inventory group it belongs to
(``gpu_hosts``, ``cpu_hosts`` ...). Everything except :func:`render_chart`
is pure standard library; the chart needs matplotlib (a controller
requirement), imported only when a chart is drawn, always with the
non-interactive Agg backend.

The outputs are deterministic (no timestamps unless the caller passes them
in ``metadata``, sorted JSON keys, PNG without a software/date stamp), so
the same inputs produce byte-identical files and a re-run reports no change.
"""

from __future__ import annotations

import io
import json

REPORT_VERSION = 1

# Request-shape fields that must be equal across hosts for a fair comparison.
SHAPE_KEYS = ('num_requests', 'concurrency', 'input_len', 'output_len', 'ignore_eos_sent')
LATENCY_METRICS = (
    ('ttft_ms', 'TTFT'),
    ('tpot_ms', 'TPOT'),
    ('itl_ms', 'ITL'),
    ('e2el_ms', 'E2EL'),
)
COPIED_KEYS = (
    'model', 'num_requests', 'concurrency', 'input_len', 'output_len', 'completed', 'errors',
    'duration_s', 'total_input_tokens', 'total_output_tokens', 'request_throughput',
    'output_throughput', 'total_token_throughput', 'ignore_eos_sent', 'usage_source',
)
DEFAULT_GROUP_ORDER = ('gpu_hosts', 'cpu_hosts', 'vllm_routers')
DEFAULT_GROUP_LABELS = {'gpu_hosts': 'GPU', 'cpu_hosts': 'CPU', 'vllm_routers': 'Door'}
DEFAULT_CHART_PERCENTILES = ('p50', 'p90', 'p99')
UNGROUPED = 'ungrouped'

# One colour per group (in order), and shades for percentiles (light -> dark).
GROUP_COLORS = ('#4c72b0', '#dd8452', '#55a868', '#c44e52', '#8172b3', '#937860')
PERCENTILE_COLORS = ('#9ecae1', '#4292c6', '#08519c', '#08306b', '#041a3d')


class ReportError(Exception):
    """Invalid input, with a message for humans."""


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _pct_key(value):
    """``50`` / ``50.0`` / ``'50'`` / ``'p50'`` -> ``'p50'``."""
    text = str(value).strip()
    if text.lower().startswith('p'):
        text = text[1:]
    try:
        num = float(text)
    except ValueError:
        raise ReportError('percentile %r is not a number (use 50, 99.9 or p99)' % (value,))
    if not 0 <= num <= 100:
        raise ReportError('percentile %r is not between 0 and 100' % (value,))
    return 'p%s' % ('%g' % num)


def _latency(stats):
    """The numbers of one openai_benchmark latency dict (count, mean, std, min, max, p<N>)."""
    if not isinstance(stats, dict):
        return {}
    return dict((k, _number(v)) for k, v in stats.items()
                if k in ('count', 'mean', 'std', 'min', 'max') or str(k).startswith('p'))


def normalize_entry(item, index):
    """One input item -> one host row of the report."""
    if not isinstance(item, dict):
        raise ReportError('results[%d] must be a dict, got %s' % (index, type(item).__name__))
    host = item.get('host')
    if not host or not isinstance(host, str):
        raise ReportError('results[%d] has no host name (key "host")' % index)
    result = item.get('result')
    if result is None:
        result = {}
    if not isinstance(result, dict):
        raise ReportError('results[%d] (%s): "result" must be the dict openai_benchmark returned' % (index, host))
    info = item.get('info') or {}
    if not isinstance(info, dict):
        raise ReportError('results[%d] (%s): "info" must be a dict' % (index, host))
    failed = bool(item.get('failed') or result.get('failed'))
    if not failed and _number(result.get('output_throughput')) is None:
        failed = True
        msg = item.get('msg') or result.get('msg') or 'no benchmark result (output_throughput missing)'
    else:
        msg = item.get('msg') or result.get('msg') or ''
    row = dict(
        host=host,
        label=str(item.get('label') or host),
        group=str(item.get('group') or UNGROUPED),
        status='failed' if failed else 'ok',
        msg=str(msg) if failed else '',
        info=info,
    )
    for key in COPIED_KEYS:
        row[key] = result.get(key)
    for key, dummy in LATENCY_METRICS:
        row[key] = _latency(result.get(key))
    row['error_messages'] = list(result.get('error_messages') or [])[:5]
    if failed and result.get('completed'):
        # openai_benchmark fails with fail_on_error but still returns the numbers.
        row['status'] = 'failed'
    return row


def _order_groups(rows, group_order):
    seen = []
    for row in rows:
        if row['group'] not in seen:
            seen.append(row['group'])
    ordered = [g for g in group_order if g in seen]
    return ordered + [g for g in seen if g not in ordered]


def _mean(values):
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 3) if values else None


def build_report(results, title='vLLM benchmark', metadata=None, group_order=DEFAULT_GROUP_ORDER,
                 group_labels=None, percentiles=DEFAULT_CHART_PERCENTILES):
    """Validate and summarize; returns the report dict (what the JSON file holds)."""
    if not isinstance(results, list) or not results:
        raise ReportError('results must be a non-empty list (one openai_benchmark result per host)')
    labels = dict(DEFAULT_GROUP_LABELS)
    labels.update(group_labels or {})
    rows = [normalize_entry(item, i) for i, item in enumerate(results)]
    names = [r['host'] for r in rows]
    dupes = sorted(set(n for n in names if names.count(n) > 1))
    if dupes:
        raise ReportError('results lists these hosts more than once: %s' % ', '.join(dupes))
    groups = _order_groups(rows, list(group_order or []))
    # Hosts sorted by group (in group order), then as given.
    rows.sort(key=lambda r: groups.index(r['group']))
    for row in rows:
        row['group_label'] = labels.get(row['group'], row['group'])

    ok_rows = [r for r in rows if r['status'] == 'ok']
    warnings = []
    shapes = {}
    for row in ok_rows:
        shape = tuple(row.get(k) for k in SHAPE_KEYS)
        shapes.setdefault(shape, []).append(row['host'])
    comparable = len(shapes) <= 1
    if not comparable:
        parts = []
        for shape, hosts in sorted(shapes.items(), key=lambda kv: kv[1]):
            desc = ', '.join('%s=%s' % (k, v) for k, v in zip(SHAPE_KEYS, shape))
            parts.append('%s (%s)' % (', '.join(hosts), desc))
        warnings.append('The hosts were not benchmarked with the same request shape, so their numbers '
                        'are not comparable: %s' % '; '.join(parts))
    for row in rows:
        if row['status'] == 'failed':
            warnings.append('%s: the benchmark failed: %s' % (row['host'], row['msg'] or 'unknown error'))
        elif row.get('errors'):
            warnings.append('%s: %s of %s requests failed' % (row['host'], row['errors'], row['num_requests']))
        if row['info'].get('prefix_caching') is True:
            warnings.append('%s: prefix caching is enabled on the server; start it with '
                            '--no-enable-prefix-caching for a fair comparison' % row['host'])

    group_summaries = []
    for group in groups:
        members = [r for r in rows if r['group'] == group]
        ok = [r for r in members if r['status'] == 'ok']
        out = [r['output_throughput'] for r in ok]
        group_summaries.append(dict(
            group=group,
            label=labels.get(group, group),
            hosts=[r['host'] for r in members],
            ok_hosts=len(ok),
            failed_hosts=len(members) - len(ok),
            output_throughput_total=round(sum(out), 3) if out else None,
            output_throughput_mean=_mean(out),
            request_throughput_mean=_mean([r['request_throughput'] for r in ok]),
            ttft_ms_mean=_mean([r['ttft_ms'].get('mean') for r in ok]),
            e2el_ms_mean=_mean([r['e2el_ms'].get('mean') for r in ok]),
        ))

    shape = dict(zip(SHAPE_KEYS, next(iter(shapes)))) if len(shapes) == 1 else None
    return dict(
        report_version=REPORT_VERSION,
        title=title,
        metadata=dict(metadata or {}),
        request_shape=shape,
        comparable=comparable,
        chart_percentiles=[_pct_key(p) for p in percentiles],
        hosts=rows,
        groups=group_summaries,
        warnings=warnings,
    )


# -- Markdown ----------------------------------------------------------------

def _fmt(value, digits=None):
    """``None`` -> ``-``; numbers with ``digits`` decimals when given (ints too), else as they are."""
    if value is None:
        return '-'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, (int, float)) and digits is not None:
        return '%.*f' % (digits, value)
    if isinstance(value, float):
        return '%g' % value
    return str(value)


def _md_escape(text):
    return str(text).replace('|', '\\|').replace('\n', ' ')


def _table(header, rows, text_columns=1):
    """A GitHub table; the first ``text_columns`` columns left-aligned, the numbers right-aligned."""
    lines = ['| %s |' % ' | '.join(header),
             '|%s|' % '|'.join(' --- ' if i < text_columns else ' ---: ' for i in range(len(header)))]
    for row in rows:
        lines.append('| %s |' % ' | '.join(_md_escape(c) for c in row))
    return lines


def render_markdown(report, chart_file=None, json_file=None):
    """The report as Markdown (GitHub tables); ``chart_file`` is linked as an image."""
    lines = ['# %s' % report['title'], '']
    meta = report.get('metadata') or {}
    if meta:
        for key in sorted(meta):
            lines.append('- **%s**: %s' % (_md_escape(key), _md_escape(_fmt(meta[key]))))
        lines.append('')
    shape = report.get('request_shape')
    if shape:
        lines.append('Request shape (every host): %d requests, concurrency %d, %s input tokens, '
                     '%d output tokens%s.' % (
                         shape['num_requests'], shape['concurrency'],
                         _fmt(shape['input_len']), shape['output_len'],
                         ', ignore_eos' if shape['ignore_eos_sent'] else ''))
        lines.append('')
    if report.get('warnings'):
        lines.append('> **Warnings**')
        for warning in report['warnings']:
            lines.append('> - %s' % _md_escape(warning))
        lines.append('')
    if chart_file:
        lines += ['![%s](%s)' % (_md_escape(report['title']), chart_file), '']

    lines += ['## Throughput', '']
    rows = []
    for r in report['hosts']:
        rows.append([r['label'], r['group_label'], r['status'], _fmt(r.get('model')),
                     '%s/%s' % (_fmt(r.get('completed')), _fmt(r.get('num_requests'))), _fmt(r.get('errors')),
                     _fmt(r.get('duration_s'), 2), _fmt(r.get('request_throughput'), 2),
                     _fmt(r.get('output_throughput'), 1), _fmt(r.get('total_token_throughput'), 1),
                     _fmt(r.get('total_input_tokens')), _fmt(r.get('total_output_tokens'))])
    lines += _table(['host', 'group', 'status', 'model', 'completed', 'errors', 'duration s', 'req/s',
                     'output tok/s', 'total tok/s', 'input tokens', 'output tokens'], rows, text_columns=4)
    lines.append('')

    pcts = report['chart_percentiles']
    lines += ['## Latency (ms)', '']
    rows = []
    for r in report['hosts']:
        for key, name in LATENCY_METRICS:
            stats = r[key]
            if not stats:
                continue
            rows.append([r['label'], name, _fmt(stats.get('count'))]
                        + [_fmt(stats.get(k), 1) for k in ['mean'] + pcts + ['max']])
    lines += _table(['host', 'metric', 'n', 'mean'] + pcts + ['max'], rows, text_columns=2)
    lines.append('')

    if len(report['groups']) > 1 or report['groups'][0]['group'] != UNGROUPED:
        lines += ['## By group', '']
        rows = [[g['label'], '%d/%d' % (g['ok_hosts'], g['ok_hosts'] + g['failed_hosts']),
                 _fmt(g['output_throughput_total'], 1), _fmt(g['output_throughput_mean'], 1),
                 _fmt(g['request_throughput_mean'], 2), _fmt(g['ttft_ms_mean'], 1), _fmt(g['e2el_ms_mean'], 1)]
                for g in report['groups']]
        lines += _table(['group', 'hosts ok', 'output tok/s (sum)', 'output tok/s (mean)', 'req/s (mean)',
                         'TTFT mean ms', 'E2EL mean ms'], rows)
        lines.append('')

    info_keys = sorted(set(k for r in report['hosts'] for k in r['info']))
    if info_keys:
        lines += ['## Hosts', '']
        rows = [[r['label']] + [_fmt(r['info'].get(k)) for k in info_keys] for r in report['hosts']]
        lines += _table(['host'] + info_keys, rows, text_columns=1 + len(info_keys))
        lines.append('')

    failures = [r for r in report['hosts'] if r['status'] == 'failed' or r['error_messages']]
    if failures:
        lines += ['## Errors', '']
        for r in failures:
            for msg in ([r['msg']] if r['msg'] else []) + r['error_messages']:
                lines.append('- %s: %s' % (_md_escape(r['label']), _md_escape(msg)))
        lines.append('')

    lines += ['Metrics follow `vllm bench serve`: output tok/s = output tokens / wall time of the run; '
              'TTFT = time to first token, TPOT = time per output token after the first, '
              'ITL = gap between streamed tokens, E2EL = whole request.']
    if json_file:
        lines += ['', 'Raw numbers: [%s](%s).' % (json_file, json_file)]
    return '\n'.join(lines) + '\n'


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True) + '\n'


# -- chart -------------------------------------------------------------------

def _use_log(values, scale):
    if scale == 'log':
        return True
    if scale == 'linear':
        return False
    values = [v for v in values if v and v > 0]
    return bool(values) and max(values) / min(values) > 50


def render_chart(report, scale='auto', dpi=100):
    """PNG bytes: output tokens/s per host, and TTFT / TPOT / E2EL percentiles per host.

    Hosts are ordered and coloured by group (GPU vs CPU); failed hosts keep
    their slot, marked "failed". ``scale``: ``auto`` (log when the values span
    more than 50x, as GPU vs CPU usually do), ``linear`` or ``log``.
    """
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use('Agg', force=True)
    from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
    from matplotlib.patches import Patch  # pylint: disable=import-outside-toplevel

    hosts = report['hosts']
    groups = [g['group'] for g in report['groups']]
    group_label = dict((g['group'], g['label']) for g in report['groups'])
    # Stable colours: GPU blue and CPU orange whether or not the other group is there.
    color = dict((g, GROUP_COLORS[DEFAULT_GROUP_ORDER.index(g)]) for g in groups if g in DEFAULT_GROUP_ORDER)
    others = [g for g in groups if g not in color]
    color.update((g, GROUP_COLORS[(len(DEFAULT_GROUP_ORDER) + i) % len(GROUP_COLORS)]) for i, g in enumerate(others))
    pcts = report['chart_percentiles']
    xs = list(range(len(hosts)))
    ticks = ['%s\n(%s)' % (h['label'], h['group_label']) for h in hosts]
    # Group boundaries: a dashed line between hosts of different groups.
    bounds = [i - 0.5 for i in range(1, len(hosts)) if hosts[i]['group'] != hosts[i - 1]['group']]

    width = max(8.0, 2.2 + 1.1 * len(hosts) * 2)
    fig = Figure(figsize=(min(width, 24.0), 8.0), dpi=dpi)
    axes = fig.subplots(2, 2)
    shape = report.get('request_shape')
    subtitle = ''
    if shape:
        subtitle = '\n%d requests, concurrency %d, %s in / %d out tokens' % (
            shape['num_requests'], shape['concurrency'], _fmt(shape['input_len']), shape['output_len'])
    fig.suptitle(report['title'] + subtitle)

    def finish(ax, values, ylabel, title):
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xticks(xs)
        ax.set_xticklabels(ticks, fontsize=8)
        ax.set_xlim(-0.6, len(hosts) - 0.4)
        for b in bounds:
            ax.axvline(b, color='grey', linestyle='--', linewidth=0.8)
        if _use_log(values, scale):
            ax.set_yscale('log')
        else:
            ax.set_ylim(bottom=0)
        for i, h in enumerate(hosts):
            if h['status'] != 'ok':
                ax.annotate('failed', (i, 0), xytext=(0, 4), textcoords='offset points', ha='center',
                            color='#c44e52', fontsize=8, xycoords=('data', 'axes fraction'))
        ax.grid(axis='y', alpha=0.3)

    # Output tokens/s, one bar per host in its group's colour.
    ax = axes[0][0]
    values = [h['output_throughput'] if h['status'] == 'ok' else 0 for h in hosts]
    bars = ax.bar(xs, values, color=[color[h['group']] for h in hosts], width=0.6)
    for rect, h in zip(bars, hosts):
        if h['status'] == 'ok':
            ax.annotate('%.1f' % h['output_throughput'], (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                        xytext=(0, 2), textcoords='offset points', ha='center', fontsize=8)
    finish(ax, values, 'tokens/s', 'Output throughput')
    ax.legend(handles=[Patch(color=color[g], label=group_label[g]) for g in groups], fontsize=8, loc='best')

    # Latency percentiles: grouped bars per host.
    for ax, (key, name) in zip((axes[0][1], axes[1][0], axes[1][1]),
                               (('ttft_ms', 'Time to first token'), ('tpot_ms', 'Time per output token'),
                                ('e2el_ms', 'End-to-end latency'))):
        n = max(1, len(pcts))
        bar_w = 0.8 / n
        all_values = []
        for j, pct in enumerate(pcts):
            vals = [(h[key].get(pct) or 0) if h['status'] == 'ok' else 0 for h in hosts]
            all_values += vals
            offs = [x - 0.4 + bar_w * (j + 0.5) for x in xs]
            ax.bar(offs, vals, width=bar_w, label=pct, color=PERCENTILE_COLORS[j % len(PERCENTILE_COLORS)],
                   edgecolor=[color[h['group']] for h in hosts], linewidth=1.2)
        finish(ax, all_values, 'ms', name)
        ax.legend(fontsize=8, loc='best')

    fig.tight_layout()
    buf = io.BytesIO()
    # No Software/date chunks: identical inputs give identical bytes.
    fig.savefig(buf, format='png', metadata={'Software': None})
    return buf.getvalue()
