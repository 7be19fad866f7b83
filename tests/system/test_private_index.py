"""A private package index for real: pypiserver (from PyPI) serves vLLM's wheelhouse over HTTPS with a
certificate from a private CA, on the controller's Docker bridge address, as two indexes: the main one
(everything but uv and vLLM) and an extra one (only uv and vLLM), as a mirror plus an internal index
would. A fresh systemd host installs uv (uv_python, pip method) and vLLM (vllm_cpu_build, wheel method)
from them through uv_python_index_url / uv_python_extra_index_urls and vllm_cpu_build_index_url /
vllm_cpu_build_extra_index_urls, trusting the CA through uv_python_ca_bundle_src. Without the CA the run
fails before installing anything, naming the CA variable.
"""

import json
import re
import socketserver
import subprocess
import ssl
import threading
from pathlib import Path
from types import SimpleNamespace
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pypiserver
import pytest

from conftest import WHEELHOUSE, ansible_playbook, docker, make_tls_files

VERSION = "0.32.0"


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that refuses the private CA (the test without it) is expected


class _Handler(WSGIRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        self.server.requests.append(self.path)


def bridge_gateway():
    """The controller's address on Docker's default bridge (where a test host reaches the controller).
    Docker names it in the bridge's IPAM configuration, except where it leaves the Gateway out (seen
    with Docker 28.2 on a fresh machine): then it is the bridge interface's own address."""
    net = json.loads(docker("network", "inspect", "bridge", "-f", "{{json .}}").stdout)
    gateway = next((c.get("Gateway", "") for c in net["IPAM"]["Config"] or [] if c.get("Gateway")), "")
    if not gateway:
        iface = (net.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
        found = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", iface], capture_output=True, text=True,
                               check=False).stdout.split()
        gateway = found[found.index("inet") + 1].split("/")[0] if "inet" in found else ""
    assert re.fullmatch(r"[0-9.]+", gateway), (gateway, net["IPAM"])
    return gateway


def serve(root, address, tls):
    """pypiserver over HTTPS on address:<free port>; returns (server, its /simple/ URL)."""
    httpd = make_server(address, 0, pypiserver.app(roots=[str(root)]), server_class=_Server, handler_class=_Handler)
    httpd.requests = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls["cert"], tls["key"])
    # The handshake happens in the request's own thread; a client that refuses the CA stops only itself.
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=httpd.serve_forever, kwargs=dict(poll_interval=0.1), daemon=True).start()
    return httpd, "https://%s:%d/simple/" % (address, httpd.server_address[1])


EXTRA_ONLY = re.compile(r"^(uv|vllm_cpu)-[0-9]")  # the wheels only the extra index has


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """The wheelhouse split over two indexes (links, no copies) on the docker bridge gateway."""
    gateway = bridge_gateway()
    tls = make_tls_files(str(tmp_path_factory.mktemp("index-tls")), alt_names=("IP:" + gateway,))
    roots = {name: tmp_path_factory.mktemp(name) for name in ("main", "extra")}
    for wheel in Path(WHEELHOUSE).iterdir():
        if wheel.suffix == ".whl":
            (roots["extra" if EXTRA_ONLY.match(wheel.name) else "main"] / wheel.name).symlink_to(wheel)
    main, main_url = serve(roots["main"], gateway, tls)
    extra, extra_url = serve(roots["extra"], gateway, tls)
    try:
        yield SimpleNamespace(url=main_url, extra_url=extra_url, ca=tls["ca"], requests=main.requests,
                              extra_requests=extra.requests)
    finally:
        main.shutdown()
        extra.shutdown()


def install(host, tmp_path, index, ca=None):
    extra = {
        "uv_python_version": "3.11", "uv_python_preference": "only-system",
        "uv_python_install_method": "pip", "uv_python_index_url": index.url,
        "uv_python_extra_index_urls": [index.extra_url],
        "uv_python_venv_path": "/opt/vllm/venvs/vllm-" + VERSION,
        "vllm_cpu_build_package": "vllm-cpu", "vllm_cpu_build_version": VERSION,
        "vllm_cpu_build_index_url": index.url, "vllm_cpu_build_extra_index_urls": [index.extra_url],
        "vllm_cpu_build_torch_backend": "",
        # What is tested is where the packages come from: no bytecode, no vLLM import (CI time).
        "vllm_cpu_build_compile_bytecode": False, "vllm_cpu_build_verify_import": False,
    }
    if ca:
        extra["uv_python_ca_bundle_src"] = ca
    return ansible_playbook("tests/system/playbooks/install_vllm.yml", host.inventory(tmp_path), extra)


def test_without_the_ca_the_run_fails_naming_the_ca_variable(systemd_host, tmp_path, index):
    res = install(systemd_host, tmp_path, index)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert "uv_python_ca_bundle_src" in out, out[-3000:]
    assert systemd_host.sh("test -e /usr/local/bin/uv")[0] != 0
    served = [path for path in index.requests + index.extra_requests if "/packages/" in path]
    assert not served, served  # no file was served


def test_uv_and_vllm_install_from_the_private_index_with_its_ca(systemd_host, tmp_path, index):
    first = install(systemd_host, tmp_path, index, index.ca)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    # uv and vLLM from the extra index (the only one that has them), torch from the main one.
    extra = [path for path in index.extra_requests if path.startswith("/packages/")]
    served = [path for path in index.requests if path.startswith("/packages/")]
    assert any(re.search(r"/uv-[0-9.]+-", path) for path in extra), extra
    assert any(re.search(r"/vllm_cpu-%s-" % re.escape(VERSION), path) for path in extra), extra
    assert any(re.search(r"/torch-", path) for path in served), served
    # The CA is in the host's store, and the venv's vLLM is the one from the index.
    rc, out = systemd_host.sh("ls /usr/local/share/ca-certificates/")
    assert rc == 0 and out.strip(), out
    rc, out = systemd_host.sh("/opt/vllm/venvs/vllm-%s/bin/python -c "
                              "'import importlib.metadata as m; print(m.version(\"vllm-cpu\"))'" % VERSION)
    assert rc == 0 and out.strip() == VERSION, out
    # vllm_cpu_build verified what it installed (and recorded it, so the next run skips the install).
    rc, out = systemd_host.sh("cat /opt/vllm/venvs/vllm-%s/.llmops-vllm-cpu-build.json" % VERSION)
    assert rc == 0 and VERSION in out, out
    second = install(systemd_host, tmp_path, index, index.ca)
    assert second.returncode == 0 and re.search(r"changed=0\s", second.stdout), second.stdout[-3000:]
