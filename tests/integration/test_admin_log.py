"""The admin's Log page shows the daemons' own recent log lines (issue 12):
loftd reads each child's stderr through a pipe, passes every line on to
its own stderr unchanged and keeps the recent ones of level info and up
in DATADIR/run/log-recent (board/logring.c); loft-admin shows them newest
first, HTML-escaped, optionally only warnings and errors."""
import os
import smtplib
import time

import pytest

from loft_admin_helpers import Browser, admin_loft, wizard_to
from loft_smtp_helpers import tls_ctx


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    loft = admin_loft(tmp_path_factory.mktemp("admin-log"), enable=("admin", "smtpd"),
                      conf={"smtpd.greeting_delay_ms": "0"})
    loft.start()
    b = Browser(loft)
    wizard_to(b, 9)
    yield loft, b
    loft.stop()


def wait_page(b, needle, path="/admin/log", timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        assert b.get(path).status == 200
        if needle in b.body:
            return
        time.sleep(0.2)
    raise AssertionError("%r not on %s:\n%s" % (needle, path, b.body[-3000:]))


def test_daemon_lines_on_log_page(env):
    loft, b = env
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as c:
        c.ehlo("client.test")
        c.mail("x@remote.test")
        assert c.rcpt("victim@elsewhere.test")[0] == 550
    # a user name with markup: logged (quoted) at warn, shown inert
    evil = "<script>alert(1)</script>@example.org"
    with smtplib.SMTP("127.0.0.1", loft.port("submission"), timeout=10) as c:
        c.starttls(context=tls_ctx())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login(evil, "not-the-password")
    wait_page(b, "event=relay-denied")
    wait_page(b, "event=auth result=failed")
    body = b.body
    pre = body[body.index('<pre id="logl">'):body.index("</pre>", body.index('<pre id="logl">'))]
    lines = pre[len('<pre id="logl">'):].splitlines()
    assert any("loft-smtpd[" in l and "event=relay-denied" in l for l in lines), lines[:20]
    # newest first: the failed login came after the refused relay
    i_auth = next(i for i, l in enumerate(lines) if "event=auth result=failed" in l)
    i_relay = next(i for i, l in enumerate(lines) if "event=relay-denied" in l)
    assert i_auth < i_relay
    # escaped, never live markup; the password never logged
    assert "<script>" not in body
    assert "user=&lt;script&gt;alert(1)&lt;/script&gt;@example.org" in pre
    assert "not-the-password" not in body
    # debug lines (the test's log_level) are not kept
    assert not any("level=debug" in l for l in lines)
    # only warnings and errors
    assert b.get("/admin/log?only=warn").status == 200
    pre = b.body[b.body.index('<pre id="logl">'):]
    pre = pre[:pre.index("</pre>")]
    assert "event=relay-denied" in pre and "level=info" not in pre
    # the same lines still reach loftd's own stderr (the journal)
    log = loft.log()
    assert "event=relay-denied" in log and "loft-smtpd[" in log


def test_log_page_needs_login(env):
    loft, b = env
    anon = Browser(loft)
    r = anon.get("/admin/log")
    assert r.status in (302, 303, 403) and "event=relay-denied" not in anon.body
