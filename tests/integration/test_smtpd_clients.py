"""loft-smtpd with real clients (Python's smtplib, swaks, curl) against
`loftd --dev`: plain MX, STARTTLS and implicit TLS submission, AUTH PLAIN
and LOGIN, SMTPUTF8, 8-bit bodies, a 20 MB message; every stored message
read back byte-exact apart from the trace headers loft-smtpd adds."""
import os
import smtplib
import subprocess

import pytest

from loft_smtp_helpers import (assert_clean, PASSWORDS, Raw, inbox, message_count, queue, split_trace,
                               start_loft, strip_trace, tls_ctx)


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    l = start_loft(tmp_path_factory.mktemp("smtpd-clients"))
    yield l
    l.stop()
    assert_clean(l)


def msg(subject, sender="x@remote.example", body="Hello.\r\n"):
    return ("From: %s\r\nTo: a@example.org\r\nSubject: %s\r\n"
            "Message-ID: <%s@test>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\n%s"
            % (sender, subject, subject, body)).encode()


def find(loft, user, subject):
    for raw in inbox(loft, user):
        if (b"Subject: %s\r\n" % subject.encode()) in raw:
            return raw
    raise AssertionError("no message %r for %s" % (subject, user))


def test_mx_plain_byte_exact(loft):
    body = msg("mx-plain", body="line one\r\n.leading dot\r\n..two dots\r\n\r\nend\r\n")
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as s:
        code, ehlo = s.ehlo()
        assert code == 250
        for kw in (b"PIPELINING", b"SIZE", b"8BITMIME", b"SMTPUTF8", b"ENHANCEDSTATUSCODES",
                   b"CHUNKING", b"STARTTLS"):
            assert kw in ehlo
        assert b"AUTH" not in ehlo  # never on the MX port
        assert s.sendmail("x@remote.example", ["a@example.org"], body) == {}
    raw = find(loft, "a@example.org", "mx-plain")
    trace, rest = split_trace(raw)
    assert rest == body
    assert trace.startswith(b"Return-Path: <x@remote.example>\r\nReceived: from ")
    assert b"with ESMTP id" in trace


def test_mx_starttls_delivery(loft):
    """A remote MTA that upgrades with STARTTLS on port 25: delivered, with
    ESMTPS and the TLS parameters in Received:, and still no AUTH offered."""
    body = msg("mx-starttls", body="over TLS\r\n")
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as s:
        s.ehlo("mx.remote.example")
        s.starttls(context=tls_ctx())
        code, ehlo = s.ehlo("mx.remote.example")
        assert code == 250
        assert b"STARTTLS" not in ehlo  # once is enough (RFC 3207)
        assert b"AUTH" not in ehlo  # TLS does not make port 25 a submission port
        assert s.sendmail("x@remote.example", ["a@example.org"], body) == {}
    raw = find(loft, "a@example.org", "mx-starttls")
    trace, rest = split_trace(raw)
    assert rest == body
    assert b"from mx.remote.example" in trace and b"with ESMTPS id" in trace
    assert b"version=TLSv1." in trace and b"cipher=" in trace
    assert b"authenticated user" not in trace


def test_starttls_auth_plain_submission(loft):
    body = msg("sub-plain", sender="Alice <a@example.org>")
    with smtplib.SMTP("127.0.0.1", loft.port("submission"), timeout=10) as s:
        s.ehlo()
        assert not s.has_extn("auth")  # not offered in the clear
        s.starttls(context=tls_ctx())
        s.ehlo()
        assert "PLAIN" in s.esmtp_features["auth"].upper()
        s.login("a@example.org", PASSWORDS["a@example.org"])  # smtplib picks PLAIN
        assert s.sendmail("a@example.org", ["b@example.org"], body) == {}
    raw = find(loft, "b@example.org", "sub-plain")
    trace, rest = split_trace(raw)
    assert rest == body
    assert b"ESMTPSA" in trace and b"version=TLSv1." in trace and b"cipher=" in trace
    assert b"authenticated user a@example.org" in trace
    # the client sent Message-ID and Date: none added
    assert b"Message-ID:" not in trace and b"\r\nDate:" not in trace


def test_implicit_tls_auth_login_adds_msgid_date(loft):
    body = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: sub-login\r\n\r\nx\r\n"
    with smtplib.SMTP_SSL("127.0.0.1", loft.port("submissions"), timeout=10,
                          context=tls_ctx()) as s:
        s.ehlo()
        s.user, s.password = "a@example.org", PASSWORDS["a@example.org"]
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        assert code == 235
        assert s.sendmail("a@example.org", ["b@example.org"], body) == {}
    raw = find(loft, "b@example.org", "sub-login")
    trace, rest = split_trace(raw)
    assert rest == body
    assert b"\r\nMessage-ID: <" in trace and b"\r\nDate: " in trace


def test_alias_sender_and_remote_queue(loft):
    # sales@ is an alias of a@: a may send as it; remote rcpt is queued in
    # the same transaction as the local delivery
    body = msg("alias-send", sender="sales@example.org")
    with smtplib.SMTP_SSL("127.0.0.1", loft.port("submissions"), timeout=10,
                          context=tls_ctx()) as s:
        s.login("a@example.org", PASSWORDS["a@example.org"])
        assert s.sendmail("sales@example.org", ["b@example.org", "far@remote.example"],
                          body) == {}
    raw = find(loft, "b@example.org", "alias-send")
    assert strip_trace(raw) == body
    q = [x for x in queue(loft) if x[1] == "far@remote.example"]
    assert len(q) == 1 and q[0][0] == "sales@example.org"
    # the queued copy has no Return-Path (that belongs to final delivery)
    assert q[0][2].startswith(b"Received: ")
    assert strip_trace(q[0][2]) == body


def test_one_copy_many_local_recipients(loft):
    before = message_count(loft)
    body = msg("team-mail")
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as s:
        # team@ expands to a@ and b@; a@ also named directly: one entry each
        s.sendmail("x@remote.example", ["team@example.org", "a@example.org",
                                        "whoever@example.net"], body)
    assert message_count(loft) == before + 1
    assert strip_trace(find(loft, "a@example.org", "team-mail")) == body
    assert strip_trace(find(loft, "b@example.org", "team-mail")) == body
    assert strip_trace(find(loft, "c@example.net", "team-mail")) == body  # catch-all
    assert sum(1 for r in inbox(loft, "a@example.org") if b"Subject: team-mail" in r) == 1


def test_unknown_local_user(loft):
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as s:
        s.ehlo()
        s.mail("x@remote.example")
        code, text = s.rcpt("nobody@example.org")
        assert code == 550 and text.startswith(b"5.1.1")


def test_smtputf8_and_8bit(loft):
    loft.ctl("alias", "add", "jörg@example.org", "a@example.org")
    body = ("From: Jörg <jörg@remote.example>\r\nSubject: utf8-test\r\n\r\n"
            "Grüße, ünïcödé 8-bit body ✓\r\n").encode()
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as s:
        s.ehlo()
        assert s.has_extn("smtputf8")
        r = s.sendmail("jörg@remote.example", ["jörg@example.org"], body,
                       mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        assert r == {}
    raw = find(loft, "a@example.org", "utf8-test")
    assert strip_trace(raw) == body
    assert "Return-Path: <jörg@remote.example>".encode() in raw
    # without SMTPUTF8 the same address is refused
    with Raw(loft.port("mx")) as r:
        r.cmd("EHLO client.test")
        assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
        code, text = r.cmd("RCPT TO:<jörg@example.org>")
        assert code == 553 and "5.6.7" in text


def test_20mb_message(loft):
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" * 1 + b"\r\n"
    body = b"From: x@remote.example\r\nSubject: big\r\n\r\n" + line * (20 * 1024 * 1024 // len(line))
    assert len(body) > 20 * 1000 * 1000
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=60) as s:
        assert s.sendmail("x@remote.example", ["b@example.org"], body) == {}
    raws = [r for r in inbox(loft, "b@example.org") if b"Subject: big\r\n" in r[:2000]]
    assert len(raws) == 1 and strip_trace(raws[0]) == body


def test_size_limit_announced_and_enforced(loft):
    with Raw(loft.port("mx")) as r:
        code, text = r.cmd("EHLO client.test")
        size = int([l for l in text.split("\n") if "SIZE" in l][0].split()[-1])
        code, text = r.cmd("MAIL FROM:<x@remote.example> SIZE=%d" % (size + 1))
        assert code == 552 and "5.3.4" in text
        code, text = r.cmd("MAIL FROM:<x@remote.example> SIZE=%d" % size)
        assert code == 250


def test_bdat_chunking(loft):
    body = b"From: x@remote.example\r\nSubject: bdat-test\r\n\r\n.no unstuffing\r\n..here\r\n"
    with Raw(loft.port("mx")) as r:
        r.cmd("EHLO client.test")
        r.cmd("MAIL FROM:<x@remote.example>")
        r.cmd("RCPT TO:<a@example.org>")
        r.send(b"BDAT 20\r\n" + body[:20])
        code, text = r.reply()
        assert code == 250 and "20 octets" in text
        rest = body[20:]
        r.send(b"BDAT %d LAST\r\n" % len(rest) + rest)
        code, text = r.reply()
        assert code == 250, text
        # DATA after a finished BDAT transaction needs a new MAIL
        assert r.cmd("DATA")[0] == 503
    assert strip_trace(find(loft, "a@example.org", "bdat-test")) == body


def test_swaks_plain_starttls_and_tls(loft):
    base = ["swaks", "--server", "127.0.0.1", "--from", "a@example.org", "--to",
            "b@example.org", "--h-Subject", "swaks-%s", "--body", "swaks body\n"]
    def run(tag, extra, port):
        args = [a.replace("%s", tag) for a in base] + ["--port", str(port)] + extra
        p = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout
    run("mx", [], loft.port("mx"))
    auth = ["--auth", "LOGIN", "--auth-user", "a@example.org", "--auth-password",
            PASSWORDS["a@example.org"]]
    out = run("starttls", ["-tls"] + auth, loft.port("submission"))
    assert "235 2.7.0" in out
    out = run("tlsc", ["--tlsc", "--auth", "PLAIN", "--auth-user", "a@example.org",
                       "--auth-password", PASSWORDS["a@example.org"]], loft.port("submissions"))
    assert "235 2.7.0" in out
    for tag in ("mx", "starttls", "tlsc"):
        raw = find(loft, "b@example.org", "swaks-" + tag)
        assert b"swaks body\r\n" in raw
    # swaks refusing: wrong password
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(loft.port("submission")),
                        "-tls", "--auth", "PLAIN", "--auth-user", "a@example.org",
                        "--auth-password", "wrong", "--from", "a@example.org", "--to",
                        "b@example.org"], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "535 5.7.8" in p.stdout


def test_curl_smtp_and_smtps(loft, tmp_path):
    mail = tmp_path / "mail.txt"
    body = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: curl-%s\r\n\r\ncurl body\r\n"
    mail.write_bytes(body % b"mx")
    p = subprocess.run(["curl", "-sS", "smtp://127.0.0.1:%d" % loft.port("mx"), "--mail-from",
                        "x@remote.example", "--mail-rcpt", "b@example.org", "--upload-file",
                        str(mail)], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    mail.write_bytes(body % b"smtps")
    p = subprocess.run(["curl", "-sS", "--ssl-reqd", "-k",
                        "smtps://127.0.0.1:%d" % loft.port("submissions"),
                        "--user", "a@example.org:" + PASSWORDS["a@example.org"],
                        "--mail-from", "a@example.org", "--mail-rcpt", "b@example.org",
                        "--upload-file", str(mail)], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    mail.write_bytes(body % b"starttls")
    p = subprocess.run(["curl", "-sS", "--ssl-reqd", "-k",
                        "smtp://127.0.0.1:%d" % loft.port("submission"),
                        "--user", "a@example.org:" + PASSWORDS["a@example.org"],
                        "--mail-from", "a@example.org", "--mail-rcpt", "b@example.org",
                        "--upload-file", str(mail)], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    for tag in (b"mx", b"smtps", b"starttls"):
        assert strip_trace(find(loft, "b@example.org", "curl-" + tag.decode())) == body % tag
    # curl to a remote domain on the MX port: refused, curl fails
    mail.write_bytes(body % b"relay")
    p = subprocess.run(["curl", "-sS", "smtp://127.0.0.1:%d" % loft.port("mx"), "--mail-from",
                        "x@remote.example", "--mail-rcpt", "victim@remote.example",
                        "--upload-file", str(mail)], capture_output=True, timeout=30)
    assert p.returncode != 0
