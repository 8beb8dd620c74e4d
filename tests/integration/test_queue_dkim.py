"""DKIM: every message from a local domain leaves signed (rsa-sha256,
relaxed/relaxed) with d= the From: header's domain -- not the envelope's
-- and the signature verifies with python3-dkim against the record that
`loftctl dns` prints, served by the test DNS server."""
import os
import re

import dkim
import pytest

from loftenv import free_port
from loft_queue_helpers import Dns, Sink, assert_clean, start_loft, submit

PORT = free_port()
MX = {"example.net": [(10, "mx1.example.net")], "two.example": [(10, "mx1.example.net")],
      "three.example": [(10, "mx1.example.net")]}
A = {"mx1.example.net": "127.0.0.2"}


def dkim_txt(loft, domain):
    out = loft.ctl("dns", domain).stdout
    sel = re.search(r"^(\S+)\._domainkey\.%s\.\s+TXT" % re.escape(domain), out, re.M).group(1)
    # the record's strings, joined
    block = out.split("%s._domainkey.%s." % (sel, domain))[1].split(")")[0]
    text = "".join(re.findall(r'"([^"]*)"', block))
    return sel, text


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue-dkim")
    dns = Dns(tmp, mx=MX, a=A)
    mx1 = Sink("127.0.0.2", PORT)
    loft = start_loft(tmp, dns, conf={"queue.mx_port": str(PORT)},
                      settings={"route.mode": "direct"})
    loft.ctl("domain", "add", "example.com")
    loft.ctl("alias", "add", "alias@example.com", "a@example.org")
    txt = {}
    for d in ("example.org", "example.com"):
        sel, text = dkim_txt(loft, d)
        txt["%s._domainkey.%s" % (sel, d)] = text
    dns.restart(mx=MX, a=A, txt=txt)
    yield loft, mx1, dns
    loft.stop()
    mx1.stop()
    dns.stop()
    assert_clean(loft)


def test_record_printed(env):
    loft, _, dns = env
    out = loft.ctl("dns", "example.org").stdout
    assert "v=DKIM1; k=rsa; " in out and "_dmarc.example.org." in out
    assert '"v=spf1 mx ~all"' in out
    assert "_submission._tcp.example.org." in out
    txt = dns.query_txt("loft._domainkey.example.org")
    assert txt.startswith(b"v=DKIM1; k=rsa; p=MII"), txt


def test_signature_verifies(env):
    loft, mx1, dns = env
    n = len(mx1.messages)
    submit(loft, ["v@example.net"], body="Line one  with   spaces \r\n\r\n\r\ntrailing\r\n\r\n")
    assert mx1.wait(n + 1), loft.log()[-3000:]
    data = mx1.messages[n][2]
    assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;")
    assert dkim.verify(data, dnsfunc=dns.query_txt), data[:1500]
    # a changed body fails: the check is real
    assert not dkim.verify(data.replace(b"trailing", b"Trailing"), dnsfunc=dns.query_txt)


def test_d_is_the_from_domain_not_the_envelope(env):
    loft, mx1, dns = env
    n = len(mx1.messages)
    msg = ("From: Alias <alias@example.com>\r\nTo: v@example.net\r\nSubject: aliased\r\n"
           "Date: Mon, 07 Dec 2026 00:00:00 +0000\r\nMessage-ID: <x1@example.com>\r\n\r\n"
           "body\r\n").encode()
    submit(loft, ["v@example.net"], msg=msg)
    assert mx1.wait(n + 1), loft.log()[-3000:]
    frm, _, data, _ = mx1.messages[n]
    assert frm == "a@example.org"
    assert b" d=example.com;" in data.split(b"\r\n\r\n")[0]
    assert dkim.verify(data, dnsfunc=dns.query_txt)


def test_one_signing_thread_per_core(env):
    """queue.sign_threads defaults to the online cores (at most 8): the
    loop, one fsync thread and that many signing threads."""
    loft, _, _ = env
    cores = min(8, max(1, os.sysconf("SC_NPROCESSORS_ONLN")))
    assert re.search(r"event=queue-start .* sign_threads=%d\b" % cores, loft.log()), \
        loft.log()[-2000:]
    pid = loft.children()["loft-queue"]
    assert len(os.listdir("/proc/%d/task" % pid)) == cores + 2


def test_one_signature_for_all_destinations(env):
    """A message to three domains goes out in three transactions (one per
    destination, at once) with one RSA signature between them."""
    loft, mx1, dns = env
    n = len(mx1.messages)
    signed = loft.log().count("event=dkim-signed ")
    submit(loft, ["v@example.net", "w@two.example", "x@three.example"], subject="three ways")
    assert mx1.wait(n + 3), loft.log()[-3000:]
    got = mx1.messages[n:n + 3]
    assert sorted(m[1][0] for m in got) == ["v@example.net", "w@two.example", "x@three.example"]
    fields = {m[2].split(b"\r\nFrom: ")[0] for m in got}
    assert len(fields) == 1 and next(iter(fields)).startswith(b"DKIM-Signature: "), fields
    assert all(dkim.verify(m[2], dnsfunc=dns.query_txt) for m in got)
    assert loft.log().count("event=dkim-signed ") == signed + 1, loft.log()[-3000:]
