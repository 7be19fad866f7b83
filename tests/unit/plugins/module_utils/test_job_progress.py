"""The one progress line for long jobs (model download, offline batch), from their progress files."""

import pytest

from ansible_collections.llmops.vllm.plugins.module_utils._job_progress import describe, next_wait


@pytest.mark.parametrize("kind, state, expected", [
    ("download", {}, "m: starting 0/? files, 0.00 Bytes, 0.0s"),
    ("download", {"state": "downloading", "files_done": 1, "files_total": 3, "bytes_done": 8 * 1024 ** 2,
                  "bytes_total": 24 * 1024 ** 2, "elapsed_s": 2, "bytes_per_s": 4 * 1024 ** 2, "eta_s": 4},
     "m: downloading 1/3 files, 8.00 MB of 24.00 MB (33.3%), 2.0s, 4.00 MB/s, ETA 4s"),
    ("download", {"state": "done", "files_done": 3, "files_total": 3, "bytes_done": 24 * 1024 ** 2,
                  "bytes_total": 24 * 1024 ** 2, "elapsed_s": 6, "eta_s": 0},
     "m: done 3/3 files, 24.00 MB of 24.00 MB (100.0%), 6.0s"),
    ("batch", {"state": "running", "done": 32, "total": 100, "output_tokens": 512, "elapsed_s": 10.04,
               "tokens_per_s": 51.2, "eta_s": 21.3}, "m: running 32/100 prompts, 512 output tokens, 10.0s, 51.2 tok/s, ETA 21s"),
    ("batch", {"state": "done", "done": 3, "total": 3, "output_tokens": 24, "elapsed_s": 1, "eta_s": 0},
     "m: done 3/3 prompts, 24 output tokens, 1.0s"),
])
def test_lines(kind, state, expected):
    assert describe(kind, "m", state) == expected


def test_reports_thin_out_as_the_wait_grows():
    assert next_wait(5, 0) == 5
    assert next_wait(5, 30) == 5
    assert next_wait(5, 3000) == 200
    # a day-long job: fewer than 150 reports
    waited, reports = 0.0, 0
    while waited < 86400:
        waited += next_wait(5, waited)
        reports += 1
    assert reports < 150
