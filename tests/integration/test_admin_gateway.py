"""The inbound gateway in the admin (issue 11): with inbound.gateway_mx
set, the DNS records the wizard's DNS step and the admin's DNS page show
name the gateway as MX, and SPF names the box by host name (a:) instead
of "mx"; the live check looks for the gateway's MX.  The Route page's
gateway card sets the same settings as loftctl inbound gateway; loft-smtpd
takes a new address list at once (notify gateway), loftd opens the port
at its next start."""
import html
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time

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


def gw_settings(loft):
    with sqlite3.connect(os.path.join(loft.dir, "loft.db"), timeout=10) as c:
        return dict(c.execute("SELECT key, value FROM settings WHERE key LIKE 'inbound.%'"))


def banner(port, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        return s.recv(200)
    finally:
        s.close()


def test_route_page_gateway_form(tmp_path):
    port = free_port()
    loft = admin_loft(tmp_path, enable=("admin", "smtpd"), conf={"smtpd.greeting_delay_ms": "0"})
    loft.start()
    try:
        b = Browser(loft)
        wizard_to(b, 9, user=("alice", "alice-secret-1"))
        assert b.get("/admin/route").status == 200
        assert 'id="gateway"' in b.body and 'name="gw_mx"' in b.body
        # bad values: refused with the reason, nothing stored
        for fields, why in [
                ({"gw_mx": "<script>x</script>"}, "host name"),
                ({"gw_mx": "mx.gateway.example", "gw_port": "25", "gw_from": "127.0.0.1"},
                 "1024 to 65535"),
                ({"gw_mx": "mx.gateway.example", "gw_port": "x", "gw_from": "127.0.0.1"},
                 "1024 to 65535"),
                ({"gw_mx": "mx.gateway.example", "gw_port": str(port), "gw_from": "banana"},
                 "CIDR"),
                ({"gw_mx": "mx.gateway.example", "gw_port": str(port)}, "addresses"),
                ({"gw_mx": "mx.gateway.example", "gw_user": "nobody@example.org"},
                 "one of the mailboxes")]:
            b.get("/admin/route")
            f = {"action": "gateway", "gw_port": "", "gw_from": "", "gw_user": ""}
            f.update(fields)
            r = b.post("/admin/route", f)
            assert r.status == 400 and why in html.unescape(b.body), (fields, b.body[-1500:])
            assert "<script>x" not in b.body
            assert gw_settings(loft) == {}
        b.get("/admin/route")
        r = b.post("/admin/route", {"action": "gateway", "gw_mx": "mx.gateway.example",
                                    "gw_port": str(port), "gw_from": "127.0.0.1",
                                    "gw_user": ""})
        assert r.status == 303 and r.getheader("Location") == "/admin/route?m=gateway-port"
        b.follow()
        assert "gateway port opens or closes when Loft restarts" in b.body
        assert 'value="mx.gateway.example"' in b.body and 'value="%d"' % port in b.body
        assert gw_settings(loft) == {"inbound.gateway_mx": "mx.gateway.example",
                                     "inbound.gateway_port": str(port),
                                     "inbound.gateway_from": "127.0.0.1"}
        b.get("/admin/dns")
        recs = records(b.body)
        assert ("MX", "example.org", "10 mx.gateway.example.") in recs, recs
        assert ("TXT", "example.org", "v=spf1 a:mail.example.org ~all") in recs, recs
        # the port opens at loftd's next start
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        loft.stop()
        loft.start()
        assert banner(port).startswith(b"220 ")
        # a new address list reaches loft-smtpd at once (notify gateway);
        # the admin session outlives the restart (it is in the store)
        b.get("/admin/route")
        r = b.post("/admin/route", {"action": "gateway", "gw_mx": "mx.gateway.example",
                                    "gw_port": str(port), "gw_from": "192.0.2.10",
                                    "gw_user": "alice@example.org"})
        assert r.status == 303 and r.getheader("Location") == "/admin/route?m=gateway"
        assert gw_settings(loft)["inbound.gateway_user"] == "alice@example.org"
        # 127.0.0.1 is no longer listed, but an account is: let in to AUTH
        end = time.time() + 20
        while time.time() < end and "event=gateway-auth-needed" not in loft.log():
            banner(port)
            time.sleep(0.2)
        assert "event=gateway-auth-needed peer=127.0.0.1" in loft.log()
        # without the account, an unlisted address is refused at connect
        b.get("/admin/route")
        b.post("/admin/route", {"action": "gateway", "gw_mx": "mx.gateway.example",
                                "gw_port": str(port), "gw_from": "192.0.2.10", "gw_user": ""})
        end = time.time() + 20
        got = b""
        while time.time() < end:
            got = banner(port)
            if got.startswith(b"554 5.7.1"):
                break
            time.sleep(0.2)
        assert got.startswith(b"554 5.7.1"), got
    finally:
        loft.stop()
    assert "event=child-died" not in loft.log()
