"""The servers' host firewall: the allowed clients checked, getent's answers read, the nftables table
written (and, where this machine lets us, checked by the real nft: `nft -c`)."""

import shutil
import subprocess

import pytest

from ansible_collections.llmops.vllm.plugins.filter.vllm_firewall_ruleset import vllm_firewall_ruleset
from ansible_collections.llmops.vllm.plugins.module_utils._firewall import (
    FirewallError, check_clients, names, parse_getent, ruleset,
)
from ansible.errors import AnsibleFilterError

# What `getent ahosts <name>` prints on Debian 12 (glibc), as captured on this machine.
GETENT = ("172.20.0.5      STREAM fleet-router\n"
          "172.20.0.5      DGRAM  \n"
          "172.20.0.5      RAW    \n"
          "fd00::5         STREAM \n"
          "fd00::5         DGRAM  \n"
          "fd00::5         RAW    \n")


def test_getent_output_is_read():
    assert parse_getent(GETENT) == ["172.20.0.5", "fd00::5"]
    assert parse_getent("") == [] and parse_getent(None) == []


@pytest.mark.parametrize("value, expected", [
    (None, []), ([], []),
    (["fleet-router", "10.0.0.0/8", "192.0.2.7", "fd00::/8", "fleet-router"], ["fleet-router", "10.0.0.0/8", "192.0.2.7", "fd00::/8"]),
    ([" prom.example.com. "], ["prom.example.com."]),
])
def test_clients(value, expected):
    assert check_clients(value) == expected


@pytest.mark.parametrize("value", [
    "fleet-router", {"a": 1}, ["a b"], ["router;flush ruleset"], ["r}"], ["-r"], [""], [True], [["x"]],
    ["10.0.0.0/33"], ["x" * 64],
])
def test_bad_clients_are_refused_naming_the_variable(value):
    with pytest.raises(FirewallError, match="^vllm_service_allowed_clients"):
        check_clients(value)


def test_only_names_are_resolved():
    assert names(["fleet-router", "10.0.0.0/8", "192.0.2.7", "::1"]) == ["fleet-router"]


def test_ruleset():
    text = ruleset([8001, 8000, 8000], ["fleet-router", "10.0.0.0/8", "fd00::1"], {"fleet-router": ["172.20.0.5"]})
    assert text.splitlines()[2:5] == ["table inet llmops_vllm", "delete table inet llmops_vllm", "table inet llmops_vllm {"]
    assert "elements = { 172.20.0.5/32, 10.0.0.0/8 }" in text and "elements = { fd00::1/128 }" in text
    assert "tcp dport { 8000, 8001 } jump servers" in text
    # loopback first, then the clients, then every other connection reset
    chain = text[text.index("chain servers"):]
    assert chain.index('iifname "lo" accept') < chain.index("@clients_v4") < chain.index("reject with tcp reset")


def test_a_name_the_host_cannot_resolve_is_an_error_naming_it():
    with pytest.raises(FirewallError, match="fleet-routr does not resolve on this host"):
        ruleset([8000], ["fleet-routr"], {"fleet-routr": []})


def test_the_filter_reads_the_registered_lookups():
    firewall = {"clients": ["fleet-router", "192.0.2.7"], "names": ["fleet-router"], "ports": [8000]}
    text = vllm_firewall_ruleset(firewall, [{"item": "fleet-router", "stdout": GETENT, "rc": 0}])
    assert "elements = { 172.20.0.5/32, 192.0.2.7/32 }" in text
    with pytest.raises(AnsibleFilterError, match="fleet-router does not resolve"):
        vllm_firewall_ruleset(firewall, [{"item": "fleet-router", "stdout": "", "rc": 2}])


def _nft_can_check():
    nft = shutil.which("nft") or "/usr/sbin/nft"
    try:
        return subprocess.run([nft, "-c", "-f", "-"], input="table inet llmops_probe\n", capture_output=True,
                              text=True, check=False).returncode == 0 and nft
    except OSError:
        return False


@pytest.mark.skipif(not _nft_can_check(), reason="no nft here, or not allowed to check a ruleset (CAP_NET_ADMIN)")
@pytest.mark.parametrize("clients, resolved", [
    (["fleet-router", "10.0.0.0/8", "fd00::/8"], {"fleet-router": ["172.20.0.5"]}),
    (["192.0.2.7"], {}),  # no IPv6 client: an empty set
])
def test_real_nft_accepts_the_ruleset(clients, resolved, tmp_path):
    rules = tmp_path / "firewall.nft"
    rules.write_text(ruleset([8000, 8001], clients, resolved))
    res = subprocess.run([_nft_can_check(), "-c", "-f", str(rules)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
