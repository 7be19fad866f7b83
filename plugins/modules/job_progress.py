# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name.

from __future__ import annotations

DOCUMENTATION = r"""
module: job_progress
short_description: Follow a background job to its end, showing the progress it writes
version_added: 0.2.0
author: llmops.vllm maintainers (@llmops)
description:
  - Takes a job started with C(async) and C(poll=0) (for example C(llmops.vllm.model_download) or the
    offline batch script) and waits for it, printing one line of progress whenever the job's JSON
    progress file changes, at most every O(interval) seconds at first and then at most every 1/15 of
    the time waited (a day-long job prints fewer than 150 lines).
  - Returns the job's own result (as C(ansible.builtin.async_status) would) and the last progress;
    fails when the job failed, could not be found or ran past O(timeout).
  - Run it with the same C(become)/C(become_user)/C(delegate_to) as the task that started the job.
options:
  jid:
    description: The job id (C(ansible_job_id) of the task that started it).
    type: str
    required: true
  progress_file:
    description: The JSON progress file the job rewrites, on the host the job runs on.
    type: path
    required: true
  label:
    description: What the job is, at the start of every progress line.
    type: str
    required: true
  kind:
    description: The progress file's fields.
    type: str
    choices: [download, batch]
    required: true
  interval:
    description: Seconds between the first reports.
    type: int
    default: 5
  timeout:
    description: Give up after this many seconds.
    type: int
    default: 7200
  cleanup:
    description: Remove the job's status file once it ended.
    type: bool
    default: true
notes:
  - Check mode is not supported (the job it follows does not run in check mode).
"""

EXAMPLES = r"""
- name: Start the download in the background
  llmops.vllm.model_download:
    repo_id: Qwen/Qwen2.5-1.5B-Instruct
    cache_dir: /var/lib/vllm/hf
    progress_file: /var/lib/vllm/tmp/model-download.json
  async: 7200
  poll: 0
  register: job

- name: Show its progress until it ends
  llmops.vllm.job_progress:
    jid: "{{ job.ansible_job_id }}"
    progress_file: /var/lib/vllm/tmp/model-download.json
    label: Qwen/Qwen2.5-1.5B-Instruct
    kind: download
  register: download
"""

RETURN = r"""
progress:
  description: The last progress the job wrote (empty when it wrote none).
  returned: always
  type: dict
waited_s:
  description: Seconds spent following the job.
  returned: always
  type: float
"""
