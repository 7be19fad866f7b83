# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start vllm-router with the backends' API key from the environment (the 0600 env file), not argv.

vllm-router only takes --api-key on its command line, which /proc/<pid>/cmdline and the unit file
would show to every user; here it is added inside the process. Managed by llmops.vllm.vllm_router.
"""
import os
import sys

from vllm_router.launch_router import launch_router, parse_router_args

args = sys.argv[1:]
key = os.environ.pop("VLLM_ROUTER_BACKEND_API_KEY", "")
if key:
    args += ["--api-key", key]
launch_router(parse_router_args(args))  # blocks while the router serves; raises on a bad start
