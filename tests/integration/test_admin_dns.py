"""The live check of the DNS records to publish: dnsmasq on loopback
publishes some of them (the DKIM key as read from the store), loft-admin
looks them up with c-ares (dns_servers) and says which are in place."""
import os
import re
import shutil
import sqlite3
import subprocess

import pytest

from loft_admin_helpers import Browser, admin_loft, wizard_to
from loftenv import free_port, wait_port


def test_dns_records_checked_live(tmp_path):
    if not shutil.which("dnsmasq"):
        pytest.skip("machine: dnsmasq not installed")
    port = free_port()
    with admin_loft(tmp_path, conf={"dns_servers": "127.0.0.1:%d" % port}) as loft:
        loft.start()
        b = Browser(loft)
        wizard_to(b, 3)  # the domain is set: the DKIM key exists
        with sqlite3.connect(os.path.join(loft.dir, "loft.db")) as c:
            pem = c.execute("SELECT key_pem FROM dkim_keys").fetchone()[0]
        der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"],
                             input=pem.encode(), capture_output=True, check=True).stdout
        import base64
        key = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
        # comma-separated pieces become the record's strings (at most 255 each)
        parts = ",".join(key[i:i + 200] for i in range(0, len(key), 200))
        dns = subprocess.Popen(
            ["dnsmasq", "-k", "--conf-file=/dev/null", "--port=%d" % port,
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
             "--local=/example.org/",
             "--mx-host=example.org,mail.example.org,10",
             "--address=/mail.example.org/192.0.2.25",
             "--address=/autoconfig.example.org/192.0.2.25",
             "--txt-record=example.org,v=spf1 mx ~all",
             "--txt-record=_dmarc.example.org,v=DMARC1; p=none",
             "--txt-record=loft._domainkey.example.org," + parts,
             # SRV: one right, one naming an old host or port, one "not offered";
             # _submission._tcp is not published at all
             "--srv-host=_imaps._tcp.example.org,mail.example.org,993,0,1",
             "--srv-host=_submissions._tcp.example.org,old.example.org,465,0,1",
             "--srv-host=_submissions._tcp.example.org,mail.example.org,25,0,1",
             "--srv-host=_pop3s._tcp.example.org,.,0,0,0"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(str(tmp_path), "dnsmasq.log"), "w"))
        try:
            assert wait_port(port), "dnsmasq did not start"
            # through the wizard's step 5, then the admin's DNS page
            b.post("/setup", {"step": "3"})
            b.follow()
            b.post("/setup", {"step": "4", "mode": "auto", "preset": "custom", "host": "",
                              "port": "", "tls": "", "user": "", "password": ""})
            b.follow()
            assert "DNS records to publish" in b.body and 'id="dns-check"' in b.body
            assert "<th>Published?</th>" not in b.body
            r = b.get("/setup?step=5&check=1")
            assert r.status == 200 and "<th>Published?</th>" in b.body, b.body[-2000:]
            rows = re.findall(r'<tr><td>([A-Z]+)</td><td><code>([^<]+)</code>.*?'
                              r'id="chk-\d+">([^<]+)</td></tr>', b.body, re.S)
            got = {(t, n): v for t, n, v in rows}
            assert got[("MX", "example.org")] == "in place", got
            assert got[("A", "mail.example.org")] == "in place"
            assert got[("TXT", "example.org")] == "in place"
            assert got[("TXT", "loft._domainkey.example.org")] == "in place"
            assert got[("TXT", "_dmarc.example.org")] == "in place"
            assert got[("SRV", "_imaps._tcp.example.org")] == "in place"
            assert got[("SRV", "_submissions._tcp.example.org")] == "different"
            assert got[("SRV", "_submission._tcp.example.org")] == "not found"
            assert got[("SRV", "_pop3s._tcp.example.org")] == "different"
            assert "not checked" not in b.body
            assert got[("CNAME", "autoconfig.example.org")] == "in place"
            assert got[("CNAME", "autodiscover.example.org")] == "not found"
        finally:
            dns.terminate()
            dns.wait(10)
        # the resolver gone: lookups fail, which is said as such
        r = b.get("/setup?step=5&check=1")
        assert r.status == 200
        assert "could not be checked" in b.body and "in place" not in b.body
