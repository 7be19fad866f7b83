#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, llmops.vllm maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: benchmark_report
short_description: Write a Markdown, JSON and PNG report of openai_benchmark results from several hosts
version_added: 0.1.0
description:
  - Takes the results of M(llmops.vllm.openai_benchmark) from several hosts, each with the inventory group it
    belongs to (for example C(gpu_hosts) and C(cpu_hosts)), and writes into O(dest) a Markdown report
    (C(<name>.md)), the summarized numbers as JSON (C(<name>.json)) and a chart (C(<name>.png)) of the output
    tokens/s and of the TTFT, TPOT and end-to-end latency percentiles per host, hosts grouped and coloured by
    group.
  - Meant to run on the controller (C(delegate_to localhost) or a play on C(localhost)) after the benchmarks.
  - Warns, in the module result and in the report, when the hosts were benchmarked with different request
    shapes (number of requests, concurrency, input/output length, C(ignore_eos)), when requests failed, and
    when a host reports prefix caching on (C(prefix_caching=true) in O(results[].info)).
  - The files are deterministic (sorted JSON, no timestamps unless given in O(metadata), PNG without
    software/date stamps); a file is only rewritten when its content changes.
author:
  - llmops.vllm maintainers (@llmops)
requirements:
  - matplotlib (on the host the module runs on, normally the controller), unless O(chart=false)
options:
  results:
    description:
      - One entry per host.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: Host name (unique).
        type: str
        required: true
      label:
        description: Name shown in the report; defaults to O(results[].host).
        type: str
      group:
        description: Inventory group the host is compared in, for example V(gpu_hosts) or V(cpu_hosts).
        type: str
        default: ungrouped
      result:
        description:
          - What M(llmops.vllm.openai_benchmark) returned (the registered variable).
          - A result with C(failed=true), or without C(output_throughput), counts as a failed host.
        type: dict
      failed:
        description: Mark the host as failed (for example from a C(rescue) block).
        type: bool
        default: false
      msg:
        description: Why the host failed.
        type: str
      info:
        description:
          - Extra facts about the host shown in a table, for example C(vllm_version), C(device).
          - C(prefix_caching=true) adds a fairness warning.
        type: dict
  dest:
    description: Directory to write the files into; created when missing.
    type: path
    required: true
  name:
    description: Base name of the files (C(<name>.md), C(<name>.json), C(<name>.png)).
    type: str
    default: benchmark
  title:
    description: Title of the report and the chart.
    type: str
    default: vLLM benchmark
  metadata:
    description:
      - Free-form key/value pairs listed at the top of the report and stored in the JSON (for example the
        time of the run, the playbook, the vLLM version).
    type: dict
    default: {}
  group_order:
    description: Groups listed first, in this order; further groups follow in the order they appear.
    type: list
    elements: str
    default: [gpu_hosts, cpu_hosts, vllm_routers]
  group_labels:
    description: Display names of groups; V(gpu_hosts), V(cpu_hosts) and V(vllm_routers) are shown as V(GPU), V(CPU) and V(Door) unless set.
    type: dict
    default: {}
  percentiles:
    description:
      - Latency percentiles to show in the tables and the chart (V(50), V(99.9) or V(p99)).
      - They must be among the percentiles the benchmark computed (its O(llmops.vllm.openai_benchmark#module:percentiles)).
    type: list
    elements: str
    default: ['50', '90', '99']
  chart:
    description: Draw the PNG chart (needs matplotlib).
    type: bool
    default: true
  chart_scale:
    description:
      - Y axis scale of the chart panels. V(auto) uses a log scale on a panel whose values span more than 50x
        (GPU next to CPU hosts).
    type: str
    choices: [auto, linear, log]
    default: auto
  mode:
    description: Permissions of the written files.
    type: raw
    default: '0644'
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Computes the report and tells whether the files would change, without writing them.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - matplotlib is drawn with its non-interactive Agg backend; no display is needed.
  - For a fair comparison the servers should run with prefix caching off (C(--no-enable-prefix-caching));
    M(llmops.vllm.openai_benchmark) already sends a different prompt with every request.
seealso:
  - module: llmops.vllm.openai_benchmark
"""

EXAMPLES = r"""
# playbooks/benchmark.yml is a complete example: it benchmarks every host of cpu_hosts and gpu_hosts
# and collects the results this way.
- name: Benchmark the server on each host
  llmops.vllm.openai_benchmark:
    url: http://127.0.0.1:8000
    num_requests: 100
    concurrency: 8
  register: bench

- name: Write the report on the controller
  llmops.vllm.benchmark_report:
    dest: "{{ playbook_dir }}/artifacts/benchmark"
    title: Qwen2.5-1.5B, GPU vs CPU
    metadata:
      started: "{{ now(utc=true).isoformat() }}"
    results:
      - host: gpu-1
        group: gpu_hosts
        result: "{{ hostvars['gpu-1'].bench }}"
      - host: cpu-1
        group: cpu_hosts
        result: "{{ hostvars['cpu-1'].bench }}"
        info:
          prefix_caching: false
  delegate_to: localhost
  run_once: true
  register: report

- name: Show where it is
  ansible.builtin.debug:
    msg: "{{ report.files.markdown }}"
"""

RETURN = r"""
files:
  description: Paths of the report files (written, or that would be written in check mode).
  returned: success
  type: dict
  contains:
    markdown:
      description: The Markdown report.
      type: str
      sample: /srv/artifacts/benchmark-20250101T120000Z/benchmark.md
    json:
      description: The summarized numbers (the RV(hosts), RV(groups) and RV(warnings_list) returned here).
      type: str
      sample: /srv/artifacts/benchmark-20250101T120000Z/benchmark.json
    chart:
      description: The PNG chart (absent with O(chart=false)).
      type: str
      sample: /srv/artifacts/benchmark-20250101T120000Z/benchmark.png
written:
  description: Which of the files were (or in check mode would be) written because their content changed.
  returned: success
  type: list
  elements: str
  sample: [markdown, json, chart]
hosts:
  description:
    - One summary per host, ordered by group, with C(host), C(label), C(group), C(group_label), C(status)
      (V(ok) or V(failed)), C(msg), C(model), C(completed), C(errors), C(output_throughput),
      C(request_throughput), C(total_token_throughput), C(duration_s), token totals, C(info), and
      C(ttft_ms), C(tpot_ms), C(itl_ms), C(e2el_ms) as returned by the benchmark.
  returned: success
  type: list
  elements: dict
groups:
  description:
    - One summary per group, with C(group), C(label), C(hosts), C(ok_hosts), C(failed_hosts),
      C(output_throughput_total), C(output_throughput_mean), C(request_throughput_mean), C(ttft_ms_mean),
      C(e2el_ms_mean).
  returned: success
  type: list
  elements: dict
  sample:
    - {group: cpu_hosts, label: CPU, hosts: [cpu-1], ok_hosts: 1, failed_hosts: 0, output_throughput_total: 52.1,
       output_throughput_mean: 52.1, request_throughput_mean: 1.63, ttft_ms_mean: 410.2, e2el_ms_mean: 1210.9}
comparable:
  description: Whether every successful host was benchmarked with the same request shape.
  returned: success
  type: bool
  sample: true
request_shape:
  description: The common request shape (V(null) when the hosts differ).
  returned: success
  type: dict
  sample: {num_requests: 100, concurrency: 8, input_len: 128, output_len: 128, ignore_eos_sent: true}
warnings_list:
  description: The report's warnings (also emitted as module warnings).
  returned: success
  type: list
  elements: str
  sample: []
"""

import os
import tempfile
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.llmops.vllm.plugins.module_utils._bench_report import (
    ReportError,
    build_report,
    render_chart,
    render_json,
    render_markdown,
)

try:
    import matplotlib  # noqa: F401 pylint: disable=unused-import
    HAS_MATPLOTLIB = True
    MATPLOTLIB_IMPORT_ERROR = None
except ImportError:
    HAS_MATPLOTLIB = False
    MATPLOTLIB_IMPORT_ERROR = traceback.format_exc()


def _differs(path, data):
    try:
        with open(path, 'rb') as f:
            return f.read() != data
    except (IOError, OSError):
        return True


def _write(module, path, data):
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            results=dict(type='list', elements='dict', required=True, options=dict(
                host=dict(type='str', required=True),
                label=dict(type='str'),
                group=dict(type='str', default='ungrouped'),
                result=dict(type='dict'),
                failed=dict(type='bool', default=False),
                msg=dict(type='str'),
                info=dict(type='dict'),
            )),
            dest=dict(type='path', required=True),
            name=dict(type='str', default='benchmark'),
            title=dict(type='str', default='vLLM benchmark'),
            metadata=dict(type='dict', default={}),
            group_order=dict(type='list', elements='str', default=['gpu_hosts', 'cpu_hosts', 'vllm_routers']),
            group_labels=dict(type='dict', default={}),
            percentiles=dict(type='list', elements='str', default=['50', '90', '99']),
            chart=dict(type='bool', default=True),
            chart_scale=dict(type='str', default='auto', choices=['auto', 'linear', 'log']),
            mode=dict(type='raw', default='0644'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p['name'] or '/' in p['name']:
        module.fail_json(msg='name must be a plain file name without "/", got %r' % p['name'])
    if p['chart'] and not HAS_MATPLOTLIB:
        module.fail_json(msg=missing_required_lib('matplotlib', reason='to draw the chart (or set chart=false)'),
                         exception=MATPLOTLIB_IMPORT_ERROR)

    try:
        report = build_report(p['results'], title=p['title'], metadata=p['metadata'], group_order=p['group_order'],
                              group_labels=p['group_labels'], percentiles=p['percentiles'])
    except ReportError as exc:
        module.fail_json(msg=str(exc))

    dest = p['dest']
    names = dict(markdown='%s.md' % p['name'], json='%s.json' % p['name'])
    if p['chart']:
        names['chart'] = '%s.png' % p['name']
    contents = dict(
        markdown=render_markdown(report, chart_file=names.get('chart'), json_file=names['json']).encode('utf-8'),
        json=render_json(report).encode('utf-8'),
    )
    if p['chart']:
        try:
            contents['chart'] = render_chart(report, scale=p['chart_scale'])
        except Exception as exc:  # pylint: disable=broad-except
            module.fail_json(msg='Drawing the chart failed: %s: %s' % (exc.__class__.__name__, exc),
                             exception=traceback.format_exc())

    files = dict((k, os.path.join(dest, v)) for k, v in names.items())
    written = [k for k in ('markdown', 'json', 'chart') if k in files and _differs(files[k], contents[k])]
    changed = bool(written)
    if not module.check_mode:
        if not os.path.isdir(dest):
            try:
                os.makedirs(dest)
            except OSError as exc:
                module.fail_json(msg='Cannot create %s: %s' % (dest, exc))
            changed = True
        try:
            for key in written:
                _write(module, files[key], contents[key])
        except (IOError, OSError) as exc:
            module.fail_json(msg='Cannot write the report into %s: %s' % (dest, exc))
        for key in files:
            file_args = module.load_file_common_arguments(dict(path=files[key], mode=p['mode']))
            changed = module.set_fs_attributes_if_different(file_args, changed)

    for warning in report['warnings']:
        module.warn(warning)
    module.exit_json(changed=changed, files=files, written=written, hosts=report['hosts'],
                     groups=report['groups'], comparable=report['comparable'],
                     request_shape=report['request_shape'], warnings_list=report['warnings'])


if __name__ == '__main__':
    main()
