"""loft-smtpd's rejections on the dashboard chart (issue 12): real SMTP
clients get refused -- an early talker, unknown recipients, relaying, a
wrong password, a message with bare LF and one over the size limit, a
connection over the per-address limit -- and accepted; loft-smtpd counts
them in memory and adds them to smtp_daily (one row per day and kind,
store_smtpstats.h); the dashboard's SVG chart shows the received and the
refused bars with their numbers."""
import os
import re
import smtplib
import socket
import sqlite3
import time

import pytest

from loft_admin_helpers import Browser, admin_loft, wizard_to
from loft_smtp_helpers import tls_ctx

ADDR = "alice@example.org"
PW = "alice-secret-1"


def counts(loft):
    with sqlite3.connect(os.path.join(loft.dir, "loft.db")) as c:
        day = int(time.time()) // 86400
        return dict(c.execute("SELECT kind, n FROM smtp_daily WHERE day = ?", (day,)))


def wait_counts(loft, want, timeout=20):
    end = time.time() + timeout
    got = {}
    while time.time() < end:
        got = counts(loft)
        if all(got.get(k, 0) >= v for k, v in want.items()):
            return got
        time.sleep(0.1)
    raise AssertionError("counts %r, wanted at least %r" % (got, want))


def raw_line(sock):
    buf = b""
    while not buf.endswith(b"\r\n"):
        b = sock.recv(1024)
        if not b:
            break
        buf += b
    return buf


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    loft = admin_loft(tmp_path_factory.mktemp("admin-rej"), enable=("admin", "smtpd"),
                      conf={"smtpd.greeting_delay_ms": "400",
                            "smtpd.greeting_pass_ttl": "0",
                            "smtpd.stats_interval_ms": "100",
                            "smtpd.max_message_size": "4096",
                            "smtpd.max_connections_per_ip": "3"})
    loft.start()
    b = Browser(loft)
    wizard_to(b, 9, user=(ADDR.split("@")[0], PW))
    yield loft, b
    loft.stop()


def test_rejections_counted_and_charted(env):
    loft, b = env
    assert counts(loft) == {}
    # an early talker: speaks before the (delayed) greeting, gets 554
    s = socket.create_connection(("127.0.0.1", loft.port("mx")), timeout=10)
    s.sendall(b"EHLO early.test\r\n")
    assert raw_line(s).startswith(b"554 5.5.0"), "early talker not refused"
    s.close()
    # refused recipients: unknown user, relaying, bad syntax
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as c:
        c.ehlo("client.test")
        c.mail("x@remote.test")
        assert c.rcpt("nobody@example.org")[0] == 550
        assert c.rcpt("victim@elsewhere.test")[0] == 550
        assert c.rcpt("<bad address>")[0] == 501
        # an accepted message: received
        assert c.rcpt(ADDR)[0] == 250
        assert c.data(b"Subject: hi\r\n\r\nhello\r\n")[0] == 250
        # refused bodies: bare LF, then over smtpd.max_message_size
        c.mail("x@remote.test")
        c.rcpt(ADDR)
        code = c.data(b"Subject: bare\r\n\r\nbare\nlf\r\n")[0]
        assert code == 550, code
        c.mail("x@remote.test")
        c.rcpt(ADDR)
        assert c.data(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100)[0] == 552
    # a failed login on submission (after STARTTLS): smtplib tries PLAIN,
    # then LOGIN, so two failures
    with smtplib.SMTP("127.0.0.1", loft.port("submission"), timeout=10) as c:
        c.starttls(context=tls_ctx())
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.login(ADDR, "not-the-password")
        assert e.value.smtp_code == 535
    # over the per-address connection limit: refused by the listener
    held = [socket.create_connection(("127.0.0.1", loft.port("mx")), timeout=10)
            for _ in range(3)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", loft.port("mx")), timeout=10)
        line = raw_line(extra)
        extra.close()
        assert line.startswith(b"421"), line
    finally:
        for h in held:
            h.close()
    got = wait_counts(loft, {"received": 1, "rcpt": 3, "data": 2, "auth": 2, "conn": 2})
    assert got == {"received": 1, "rcpt": 3, "data": 2, "auth": 2, "conn": 2}, got

    # the dashboard: today's bars carry the numbers
    r = b.get("/admin")
    assert r.status == 200
    m = re.search(r'<svg[^>]*id="chart".*?</svg>', b.body, re.S)
    assert m, b.body[-3000:]
    svg = m.group(0)
    assert "<title>1 received</title>" in svg
    assert "<title>9 refused</title>" in svg
    assert svg.count("<title>0 refused</title>") == 13  # the other days
    assert "No mail sent, received or refused" not in b.body
    # the numbers are added to, not replaced: one more refusal
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as c:
        c.ehlo("client.test")
        c.mail("x@remote.test")
        assert c.rcpt("nobody@example.org")[0] == 550
    assert wait_counts(loft, {"rcpt": 4})["rcpt"] == 4


def test_counts_written_at_stop(env):
    """A count made just before a stop is in the store after it, however
    long the interval."""
    loft, b = env
    before = counts(loft).get("rcpt", 0)
    loft.stop()
    conf = os.path.join(loft.dir, "loft.conf")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("smtpd.stats_interval_ms = 100", "smtpd.stats_interval_ms = 3600000"))
    loft.start()
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as c:
        c.ehlo("client.test")
        c.mail("x@remote.test")
        assert c.rcpt("nobody@example.org")[0] == 550
    time.sleep(0.3)
    assert counts(loft).get("rcpt", 0) == before  # not yet: the interval is an hour
    loft.stop()
    assert counts(loft).get("rcpt", 0) == before + 1
    loft.start()
