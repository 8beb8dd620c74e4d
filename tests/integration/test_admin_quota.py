"""The admin's quota form (issue 12) on a mailbox's page: shown, set with
a CSRF-protected POST, bad values refused, and what it sets is what
loft-smtpd enforces (smtplib RCPT gets 452 4.2.2)."""
import os
import re
import smtplib
import sqlite3

import pytest

from loft_admin_helpers import Browser, admin_loft, wizard_to

ALICE = ("alice", "alice-secret-1")
ADDR = "alice@example.org"


def quota(loft):
    with sqlite3.connect(os.path.join(loft.dir, "loft.db")) as c:
        return c.execute("SELECT quota_bytes FROM users WHERE address = ?", (ADDR,)).fetchone()[0]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    loft = admin_loft(tmp_path_factory.mktemp("admin-quota"), enable=("admin", "smtpd"),
                      conf={"smtpd.greeting_delay_ms": "0"})
    loft.start()
    b = Browser(loft)
    wizard_to(b, 9, user=ALICE)
    yield loft, b
    loft.stop()


def test_quota_form(env):
    loft, b = env
    assert b.get("/admin/user?address=" + ADDR).status == 200
    assert "no limit" in b.body and 'name="quota"' in b.body, b.body[-2000:]
    # no CSRF token: refused, nothing changed
    r = b.post("/admin/users", {"action": "quota", "address": ADDR, "quota": "5"}, csrf=False)
    assert r.status in (400, 403), r.status
    assert quota(loft) == 0
    b.get("/admin/user?address=" + ADDR)
    for badv in ("", "lots", "-1", "99999999999999999999999", "2X", "1.5", "9999999T"):
        r = b.post("/admin/users", {"action": "quota", "address": ADDR, "quota": badv})
        assert r.status == 400, (badv, r.status)
        assert "such as 500M or 2G" in b.body
    assert quota(loft) == 0
    r = b.post("/admin/users", {"action": "quota", "address": "nobody@example.org",
                                "quota": "5"})
    assert r.status == 404
    r = b.post("/admin/users", {"action": "quota", "address": ADDR, "quota": "5"})
    assert r.status == 303 and "m=quota" in r.getheader("Location")
    assert quota(loft) == 5
    b.get("/admin/user?address=" + ADDR)
    assert "of 5 B used" in b.body, b.body[-2000:]
    # one message takes it over 5 bytes, then RCPT is refused
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as s:
        s.sendmail("x@remote.test", [ADDR], b"Subject: hi\r\n\r\nhello\r\n")
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as s:
        s.ehlo("client.test")
        s.mail("x@remote.test")
        code, text = s.rcpt(ADDR)
    assert code == 452 and text == b"4.2.2 Mailbox full", (code, text)
    r = b.post("/admin/users", {"action": "quota", "address": ADDR, "quota": "0"})
    assert r.status == 303 and quota(loft) == 0


def test_quota_human_units(env):
    """The form takes 500M / 1.5 GB, the mailbox page and the users list
    show them in the same units, and the form is pre-filled with what
    reads back to the same value."""
    loft, b = env
    b.get("/admin/user?address=" + ADDR)
    r = b.post("/admin/users", {"action": "quota", "address": ADDR, "quota": "500M"})
    assert r.status == 303 and quota(loft) == 500 << 20
    b.get("/admin/user?address=" + ADDR)
    assert re.search(r'id="quota">[0-9.]+ (B|KB) of 500 MB used\.', b.body), b.body[-3000:]
    assert 'name="quota" type="text"' in b.body and 'value="500M"' in b.body
    r = b.post("/admin/users", {"action": "quota", "address": ADDR, "quota": "1.5 GB"})
    assert r.status == 303 and quota(loft) == 3 << 29
    b.get("/admin/users")
    row = re.search(r"<tr><td><a href=\"/admin/user\?address=alice%40example.org\">.*?</tr>|"
                    r"<tr><td><a href=\"/admin/user\?address=alice@example.org\">.*?</tr>",
                    b.body, re.S)
    assert row and "of 1.5 GB" in row.group(0) and "(0%)" in row.group(0), b.body[-3000:]
    b.get("/admin/user?address=" + ADDR)
    assert 'value="1536M"' in b.body
    r = b.post("/admin/users", {"action": "quota", "address": ADDR, "quota": "0"})
    assert r.status == 303 and quota(loft) == 0
    b.get("/admin/users")
    assert "(no limit)" in b.body
