"""Per-user quota (issue 12): loftctl sets it, loft-smtpd refuses RCPT for
a full mailbox with 452 4.2.2 (smtplib), loft-imapd refuses an APPEND that
would go over with NO [OVERQUOTA] (RFC 9208, imaplib); 0 lifts it."""

import os
import smtplib
import sqlite3

import pytest

from loft_imap_helpers import PASS, USER, finish, imap_ssl, start_loft

MSG = b"From: x@remote.test\r\nTo: a@example.org\r\nSubject: q\r\n\r\n" + b"y" * 400 + b"\r\n"


@pytest.fixture(scope="module")
def lf(tmp_path_factory):
    lf = start_loft(tmp_path_factory.mktemp("quota"), {USER: PASS, "b@example.org": PASS},
                    enable=("imapd", "smtpd"))
    yield lf
    finish(lf, PASS)


def rcpt(lf, to):
    with smtplib.SMTP("127.0.0.1", lf.port("mx"), timeout=10) as s:
        s.ehlo("client.test")
        s.mail("x@remote.test")
        return s.rcpt(to)


def test_loftctl_args(lf):
    assert lf.ctl("user", "quota", USER, "lots", check=False).returncode != 0
    assert lf.ctl("user", "quota", USER, "-5", check=False).returncode != 0
    p = lf.ctl("user", "quota", "nobody@example.org", "100", check=False)
    assert p.returncode != 0 and "nobody@example.org" in (p.stdout + p.stderr)
    assert "user quota" in lf.ctl("help", check=False).stdout + lf.ctl("help", check=False).stderr
    for badv in ("2X", "1.5", "", "9999999T", "1 G B"):
        p = lf.ctl("user", "quota", USER, badv, check=False)
        assert p.returncode == 2 and "500M" in p.stderr, (badv, p.returncode, p.stderr)


def test_loftctl_human_units(lf):
    """Sizes with binary units, read back by `user quota ADDRESS` in the
    same units."""
    def stored():
        with sqlite3.connect(os.path.join(lf.dir, "loft.db")) as c:
            return c.execute("SELECT quota_bytes FROM users WHERE address = ?",
                             (USER,)).fetchone()[0]
    for arg, want, shown in (("500M", 500 << 20, "of 500 MB used"),
                             ("2G", 2 << 30, "of 2 GB used"),
                             ("1.5 GB", 3 << 29, "of 1.5 GB used"),
                             ("2048", 2048, "of 2 KB used"),
                             ("0", 0, "no limit")):
        lf.ctl("user", "quota", USER, arg)
        assert stored() == want, (arg, stored())
        out = lf.ctl("user", "quota", USER).stdout
        assert out.startswith(USER + ": ") and shown in out, (arg, out)
    p = lf.ctl("user", "quota", "nobody@example.org", check=False)
    assert p.returncode != 0 and "not found" in p.stderr


def test_quota_enforced(lf):
    # unlimited by default: one message in
    assert rcpt(lf, USER)[0] == 250
    with smtplib.SMTP("127.0.0.1", lf.port("mx"), timeout=10) as s:
        s.sendmail("x@remote.test", [USER], MSG)
    lf.ctl("user", "quota", USER, "100")
    # over the quota now: a temporary refusal with the enhanced code
    code, text = rcpt(lf, USER)
    assert code == 452 and text.startswith(b"4.2.2"), (code, text)
    # another user is not affected
    assert rcpt(lf, "b@example.org")[0] == 250
    # IMAP APPEND that would exceed it
    m = imap_ssl(lf)
    typ, dat = m.append("INBOX", None, None, b"Subject: x\r\n\r\nbody\r\n")
    assert typ == "NO" and b"[OVERQUOTA]" in dat[0], (typ, dat)
    # a quota with room for a small message but not a big one
    lf.ctl("user", "quota", USER, str(len(MSG) + 2000))
    assert m.append("INBOX", None, None, b"Subject: x\r\n\r\nsmall\r\n")[0] == "OK"
    typ, dat = m.append("INBOX", None, None, b"Subject: x\r\n\r\n" + b"z" * 3000 + b"\r\n")
    assert typ == "NO" and b"[OVERQUOTA]" in dat[0], (typ, dat)
    # 0 = unlimited again
    lf.ctl("user", "quota", USER, "0")
    assert rcpt(lf, USER)[0] == 250
    assert m.append("INBOX", None, None, b"Subject: x\r\n\r\n" + b"z" * 3000 + b"\r\n")[0] == "OK"
    m.logout()
