"""The inbound gateway in the admin (issue 11): with inbound.gateway_mx
set, the DNS records the wizard's DNS step and the admin's DNS page show
name the gateway as MX, and SPF names the box by host name (a:) instead
of "mx"; the live check looks for the gateway's MX."""
import html
import os
import re
import shutil
import subprocess

import pytest

from loft_admin_helpers import Browser, admin_loft, wizard_to
from loftenv import free_port, wait_port


def records(body):
    rows = re.findall(r'<tr><td>([A-Z]+)</td><td><code>([^<]+)</code></td><td>'
                      r'<code id="rec-\d+">([^<]+)</code>', body)
    return [(t, n, html.unescape(v)) for t, n, v in rows]


def test_dns_step_and_page_show_the_gateway(tmp_path):
    if not shutil.which("dnsmasq"):
        pytest.skip("machine: dnsmasq not installed")
    port = free_port()
    with admin_loft(tmp_path, conf={"dns_servers": "127.0.0.1:%d" % port}) as loft:
        loft.start()
        b = Browser(loft)
        wizard_to(b, 5)
        recs = records(b.body)
        assert ("MX", "example.org", "10 mail.example.org.") in recs, recs
        assert ("TXT", "example.org", "v=spf1 mx ~all") in recs, recs
        loft.ctl("inbound", "gateway", "set", "mx.gateway.example", "--port", "2526",
                 "--from", "192.0.2.10")
        b.get("/setup?step=5")
        recs = records(b.body)
        assert ("MX", "example.org", "10 mx.gateway.example.") in recs, recs
        assert not [r for r in recs if r[0] == "MX" and "mail.example.org" in r[2]], recs
        assert ("TXT", "example.org", "v=spf1 a:mail.example.org ~all") in recs, recs
        assert "inbound gateway" in b.body
        dns = subprocess.Popen(
            ["dnsmasq", "-k", "--conf-file=/dev/null", "--port=%d" % port,
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
             "--local=/example.org/", "--mx-host=example.org,mx.gateway.example,10"],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(str(tmp_path), "dnsmasq.log"), "w"))
        try:
            assert wait_port(port), "dnsmasq did not start"
            r = b.get("/setup?step=5&check=1")
            assert r.status == 200
            got = dict(re.findall(r'<tr><td>([A-Z]+)</td><td><code>example\.org</code>.*?'
                                  r'id="chk-\d+">([^<]+)</td></tr>', b.body, re.S))
            assert got["MX"] == "in place", got
        finally:
            dns.terminate()
            dns.wait(10)
        loft.ctl("inbound", "gateway", "clear")
        b.get("/setup?step=5")
        recs = records(b.body)
        assert ("MX", "example.org", "10 mail.example.org.") in recs, recs
        assert ("TXT", "example.org", "v=spf1 mx ~all") in recs, recs
