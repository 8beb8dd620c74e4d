"""The open-relay battery: every trick a spammer tries, against the MX port
unauthenticated and against submission without or with forged
authentication.  None may be accepted, and each must get the right code.
At the end nothing is queued for a remote address."""
import smtplib

import pytest

from loft_smtp_helpers import PASSWORDS, Raw, assert_clean, queue, tls_ctx, start_loft


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    l = start_loft(tmp_path_factory.mktemp("smtpd-relay"),
                   conf={"smtpd.max_bad_commands": "1000"})
    yield l
    assert queue(l) == [], "something was queued for relay"
    l.stop()
    assert_clean(l)


# (RCPT argument, expected code, expected enhanced code)
MX_ATTEMPTS = [
    ("<victim@remote.example>", 550, "5.7.1"),
    ("<VICTIM@REMOTE.EXAMPLE>", 550, "5.7.1"),
    ("<victim%remote.example@example.org>", 550, "5.7.1"),
    ("<victim%remote.example@[127.0.0.1]>", 550, "5.7.1"),
    ("<remote.example!victim@example.org>", 550, "5.7.1"),
    ("<remote.example!victim>", 501, "5.1.3"),
    ("<\"victim@remote.example\"@example.org>", 550, "5.7.1"),
    ("<\"victim%remote.example\"@example.org>", 550, "5.7.1"),
    ("<@example.org:victim@remote.example>", 550, "5.7.1"),
    ("<@example.org,@relay.example:victim@remote.example>", 550, "5.7.1"),
    ("<victim@[127.0.0.1]>", 550, "5.7.1"),
    ("<victim@[IPv6:::1]>", 550, "5.7.1"),
    ("<victim@remote.example.>", 501, "5.1.3"),
    ("<a@example.org.>", 501, "5.1.3"),
    ("<victim@remote.example@example.org>", 550, "5.7.1"),
    ("<victim@example.org.remote.example>", 550, "5.7.1"),
    ("<victim@exampl\u0435.org>", 553, "5.6.7"),          # Cyrillic e, no SMTPUTF8
    ("<a@example\uff0eorg>", 553, "5.6.7"),               # fullwidth dot
    ("victim@remote.example", 501, "5.1.3"),              # no brackets
    ("<victim@remote.example> NOTIFY=NEVER", 555, "5.5.4"),
    ("<victim@localhost>", 550, "5.7.1"),
    ("<victim@127.0.0.1>", 550, "5.7.1"),
    ("<\"a\\@remote.example\"@example.org>", 550, "5.7.1"),
]


@pytest.mark.parametrize("rcpt,code,ecode", MX_ATTEMPTS)
def test_mx_relay_attempt(loft, rcpt, code, ecode):
    with Raw(loft.port("mx")) as r:
        assert r.cmd("EHLO spammer.test")[0] == 250
        assert r.cmd("MAIL FROM:<spam@spammer.test>")[0] == 250
        got, text = r.cmd("RCPT TO:" + rcpt)
        assert (got, text[4:9]) == (code, ecode), text
        # and DATA cannot go anywhere without an accepted RCPT
        assert r.cmd("DATA")[0] == 503


def test_mx_relay_with_smtputf8_lookalike(loft):
    with Raw(loft.port("mx")) as r:
        r.cmd("EHLO spammer.test")
        assert r.cmd("MAIL FROM:<spam@spammer.test> SMTPUTF8")[0] == 250
        code, text = r.cmd("RCPT TO:<victim@exampl\u0435.org>")
        assert code == 550 and "5.7.1" in text


def test_mx_relay_ignores_auth_param(loft):
    with Raw(loft.port("mx")) as r:
        r.cmd("EHLO spammer.test")
        assert r.cmd("MAIL FROM:<spam@spammer.test> AUTH=a@example.org")[0] == 250
        assert r.cmd("RCPT TO:<victim@remote.example>")[0] == 550


def test_mx_auth_refused(loft):
    with Raw(loft.port("mx")) as r:
        r.cmd("EHLO spammer.test")
        code, text = r.cmd("AUTH PLAIN AGFAZXhhbXBsZS5vcmcAc2VjcmV0LWE=")
        assert code == 503 and "5.5.1" in text
        r.starttls()
        r.cmd("EHLO spammer.test")
        assert r.cmd("AUTH PLAIN AGFAZXhhbXBsZS5vcmcAc2VjcmV0LWE=")[0] == 503


def test_submission_unauthenticated(loft):
    with Raw(loft.port("submission")) as r:
        r.cmd("EHLO spammer.test")
        code, text = r.cmd("MAIL FROM:<a@example.org>")
        assert code == 530 and "5.7.0" in text
        code, text = r.cmd("AUTH PLAIN AGFAZXhhbXBsZS5vcmcAc2VjcmV0LWE=")
        assert code == 538 and "5.7.11" in text  # never in the clear
        r.starttls()
        r.cmd("EHLO spammer.test")
        assert r.cmd("MAIL FROM:<a@example.org>")[0] == 530
        assert r.cmd("RCPT TO:<victim@remote.example>")[0] == 503


def test_submission_wrong_password(loft):
    with smtplib.SMTP_SSL("127.0.0.1", loft.port("submissions"), timeout=10,
                          context=tls_ctx()) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("a@example.org", "not-the-password")
        assert e.value.smtp_code == 535


def test_submission_authzid_impersonation(loft):
    import base64
    with Raw(loft.port("submissions"), tls=True) as r:
        r.cmd("EHLO spammer.test")
        resp = base64.b64encode(b"b@example.org\0a@example.org\0" +
                                PASSWORDS["a@example.org"].encode()).decode()
        code, _ = r.cmd("AUTH PLAIN " + resp)
        assert code == 501


@pytest.mark.parametrize("envelope,header", [
    ("b@example.org", "a@example.org"),          # someone else's envelope
    ("c@example.net", "a@example.org"),          # another domain's user
    ("ceo@remote.example", "a@example.org"),     # a remote address
    ("", "a@example.org"),                       # null sender
    ("A@EXAMPLE.ORG.", "a@example.org"),         # trailing dot
])
def test_authenticated_envelope_forgery(loft, envelope, header):
    with smtplib.SMTP_SSL("127.0.0.1", loft.port("submissions"), timeout=10,
                          context=tls_ctx()) as s:
        s.login("a@example.org", PASSWORDS["a@example.org"])
        code, text = s.mail(envelope)
        assert code in (553, 501), text
        assert text[:5] in (b"5.7.1", b"5.1.7")


@pytest.mark.parametrize("from_header", [
    "b@example.org",
    "Alice <b@example.org>",
    "a@example.org, b@example.org",
    "\"a@example.org\" <b@example.org>",
    "a@example.org (b@example.org) <b@example.org>",
    "ceo@remote.example",
])
def test_authenticated_header_forgery(loft, from_header):
    body = ("From: %s\r\nTo: victim@remote.example\r\nSubject: forged\r\n\r\nx\r\n"
            % from_header).encode()
    with smtplib.SMTP_SSL("127.0.0.1", loft.port("submissions"), timeout=10,
                          context=tls_ctx()) as s:
        s.login("a@example.org", PASSWORDS["a@example.org"])
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("a@example.org", ["victim@remote.example"], body)
        assert e.value.smtp_code in (553, 550)


def test_authenticated_two_from_headers(loft):
    body = b"From: a@example.org\r\nFrom: b@example.org\r\nSubject: two\r\n\r\nx\r\n"
    with smtplib.SMTP_SSL("127.0.0.1", loft.port("submissions"), timeout=10,
                          context=tls_ctx()) as s:
        s.login("a@example.org", PASSWORDS["a@example.org"])
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("a@example.org", ["victim@remote.example"], body)
        assert e.value.smtp_code == 550


def test_authenticated_forged_sender_header(loft):
    body = b"From: a@example.org\r\nSender: b@example.org\r\nSubject: s\r\n\r\nx\r\n"
    with smtplib.SMTP_SSL("127.0.0.1", loft.port("submissions"), timeout=10,
                          context=tls_ctx()) as s:
        s.login("a@example.org", PASSWORDS["a@example.org"])
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("a@example.org", ["victim@remote.example"], body)
        assert e.value.smtp_code == 553


def test_starttls_injection_not_executed(loft):
    # CVE-2011-0411: commands pipelined after STARTTLS in the clear are
    # thrown away, not run inside TLS
    with Raw(loft.port("submission")) as r:
        r.cmd("EHLO spammer.test")
        r.send("STARTTLS\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<victim@remote.example>\r\n")
        code, _ = r.reply()
        assert code == 220
        r.s = tls_ctx().wrap_socket(r.s)
        # had the injected MAIL run, this would be "nested MAIL"; instead
        # the session starts over and wants EHLO
        code, text = r.cmd("MAIL FROM:<a@example.org>")
        assert code == 503 and "EHLO" in text
