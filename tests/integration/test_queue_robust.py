"""loft-queue against peers that misbehave: a garbage greeting, an
over-long reply line, a server that never answers, a STARTTLS that breaks
the handshake, and one without 8BITMIME for an 8-bit message.  Each is a
clear temporary error (retried); an 8-bit message to a server without
8BITMIME is converted to quoted-printable (single part, and each 8-bit
part of a multipart, nested ones too; aiosmtpd without 8BITMIME plays
that peer), never sent as-is, or bounced clearly when it cannot be (an
8-bit part header); nothing crashes."""
import email
import re
import time

import dkim

import pytest

from loftenv import free_port
from loft_queue_helpers import (Dns, Fake, Handler, Sink, assert_clean, inbox, rows,
                                smtp_script, start_loft, submit, wait_rows)

PORT = free_port()


def garbage(fake, c, f):
    c.sendall(b"HELLO I AM NOT SMTP\r\n")
    time.sleep(1)


def longline(fake, c, f):
    c.sendall(b"220-" + b"x" * 5000 + b"\r\n220 ok\r\n")
    time.sleep(1)


class No8bitHandler(Handler):
    """aiosmtpd's handler, with 8BITMIME taken out of its EHLO reply."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        out = [r for r in responses if "8BITMIME" not in r.upper()]
        # the last line of a multi-line reply is "250 " not "250-"
        out[-1] = "250 " + out[-1][4:]
        return out


def silent(fake, c, f):
    time.sleep(8)


def badtls(fake, c, f):
    """Offers STARTTLS, then answers the handshake with garbage; a second
    connection (plaintext, after the failed TLS) is served normally."""
    if fake.conns == 1:
        c.sendall(b"220 fake\r\n")
        f.readline()
        c.sendall(b"250-fake\r\n250 STARTTLS\r\n")
        f.readline()
        c.sendall(b"220 go ahead\r\n")
        c.recv(1024)
        c.sendall(b"\x15\x03\x03\x00\x02\x02\x28garbage")
        return
    smtp_script(["STARTTLS"])(fake, c, f)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue-robust")
    doms = {"garbage.test": "127.0.0.4", "longline.test": "127.0.0.5",
            "silent.test": "127.0.0.6", "badtls.test": "127.0.0.7", "seven.test": "127.0.0.8",
            "aio7.test": "127.0.0.9"}
    dns = Dns(tmp, mx={d: [(10, "mx." + d)] for d in doms},
              a={"mx." + d: ip for d, ip in doms.items()})
    fakes = {
        "garbage.test": Fake("127.0.0.4", PORT, garbage),
        "longline.test": Fake("127.0.0.5", PORT, longline),
        "silent.test": Fake("127.0.0.6", PORT, silent),
        "badtls.test": Fake("127.0.0.7", PORT, badtls),
        "seven.test": Fake("127.0.0.8", PORT, smtp_script(["PIPELINING", "SIZE 1000000"])),
    }
    aio7 = Sink("127.0.0.9", PORT)
    aio7.handler.__class__ = No8bitHandler
    fakes["aio7.test"] = aio7
    loft = start_loft(tmp, dns, conf={"queue.mx_port": str(PORT), "queue.timeout": "3",
                                      "queue.retry_min": "30"},
                      settings={"route.mode": "direct"})
    yield loft, fakes
    loft.stop()
    for f in fakes.values():
        f.stop()
    dns.stop()
    assert_clean(loft)


def row_of(loft, rcpt, timeout=30):
    r = wait_rows(loft, lambda r: any(x[1] == rcpt and x[2] != "queued" for x in r),
                  timeout=timeout)
    return [x for x in r if x[1] == rcpt][0]


@pytest.mark.parametrize("dom,text", [
    ("garbage.test", "malformed reply"),
    ("longline.test", "reply line longer than"),
    ("silent.test", "timeout waiting for the server"),
])
def test_bad_peer_is_a_temporary_error(env, dom, text):
    loft, _ = env
    submit(loft, ["u@" + dom])
    row = row_of(loft, "u@" + dom)
    assert row[2] == "deferred" and text in row[4], row
    assert loft.children().get("loft-queue"), "loft-queue died"


def test_broken_tls_falls_back_to_plaintext(env):
    loft, fakes = env
    submit(loft, ["u@badtls.test"])
    row = row_of(loft, "u@badtls.test")
    assert row[2] == "done", (row, loft.log()[-3000:])
    assert fakes["badtls.test"].conns >= 2
    assert "TLS handshake failed" in loft.log()


def dkim_record(loft, domain):
    out = loft.ctl("dns", domain).stdout
    block = out.split("._domainkey.%s." % domain)[1].split(")")[0]
    return "".join(re.findall(r'"([^"]*)"', block)).encode()


def test_8bit_to_a_peer_without_8bitmime_is_converted(env):
    """A single-part 8-bit message goes out as quoted-printable, with a
    DKIM signature made over the converted form."""
    loft, fakes = env
    n = len(fakes["seven.test"].log)
    text = "Gr\u00fc\u00dfe aus K\u00f6ln =\r\nzweite Zeile \r\n"
    msg = ("From: a@example.org\r\nTo: u@seven.test\r\nSubject: 8bit\r\n"
           "Date: Mon, 07 Dec 2026 00:00:00 +0000\r\nMessage-ID: <8b@example.org>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n" + text).encode()
    submit(loft, ["u@seven.test"], msg=msg)
    row = row_of(loft, "u@seven.test")
    assert row[2] == "done", row
    mail, _, data = fakes["seven.test"].log[n]
    assert b"BODY=8BITMIME" not in mail
    assert all(b < 0x80 for b in data), "8-bit bytes went out"
    wire = data.replace(b"\r\n..", b"\r\n.")
    m = email.message_from_bytes(wire)
    assert m["Content-Transfer-Encoding"] == "quoted-printable"
    assert m.get_payload(decode=True) == text.encode()
    rec = dkim_record(loft, "example.org")
    assert dkim.verify(wire, dnsfunc=lambda name, timeout=5: rec), wire[:600]
    assert "event=downgraded" in loft.log()


NESTED_TEXTS = ["Gr\u00fc\u00dfe aus K\u00f6ln = 1\r\n", "<p>caf\u00e9 \u2014 na\u00efve</p>\r\n",
                "Angeh\u00e4ngt: \u00e4\u00f6\u00fc\r\n"]


def nested_msg(rcpt, mid):
    return ("From: a@example.org\r\nTo: %s\r\nSubject: mp\r\n"
            "Date: Mon, 07 Dec 2026 00:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer b\"\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "preamble\r\n"
            "--outer b\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
            "--inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n%s"
            "--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s"
            "--inner--\r\n"
            "--outer b\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n"
            "--outer b\r\nContent-Type: message/rfc822\r\n\r\n"
            "From: x@example.org\r\nSubject: inside\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n%s"
            "--outer b--\r\n" % ((rcpt, mid) + tuple(NESTED_TEXTS))).encode()


def test_8bit_multipart_to_aiosmtpd_without_8bitmime_is_converted(env):
    """Each 8-bit part, nested ones and the attached message's body, goes
    out as quoted-printable; the parts decode to the original text; the
    DKIM signature is made over what was sent."""
    loft, fakes = env
    sink = fakes["aio7.test"]
    n = len(sink.messages)
    submit(loft, ["mp@aio7.test"], msg=nested_msg("mp@aio7.test", "mp1"))
    row = row_of(loft, "mp@aio7.test")
    assert row[2] == "done", (row, loft.log()[-3000:])
    assert sink.wait(n + 1)
    _, rcpts, data, opts = sink.messages[n]
    assert rcpts == ["mp@aio7.test"] and "BODY=8BITMIME" not in opts, opts
    assert all(b < 0x80 for b in data), "8-bit bytes went out"
    m = email.message_from_bytes(data)
    assert m.get_content_type() == "multipart/mixed" and "Content-Transfer-Encoding" not in m
    leaves = [p for p in m.walk() if not p.is_multipart()]
    # (the line end before a boundary belongs to the boundary)
    norm = lambda t: t.replace("\r\n", "\n").rstrip("\n")
    texts = [norm(p.get_payload(decode=True).decode()) for p in leaves
             if p.get_content_maintype() == "text"]
    assert texts == [norm(t) for t in NESTED_TEXTS], texts
    assert [p.get("Content-Transfer-Encoding") for p in leaves
            if p.get_content_maintype() == "text"] == ["quoted-printable"] * 3
    att = [p for p in leaves if p.get_content_type() == "application/octet-stream"][0]
    assert att.get_payload(decode=True) == bytes(range(6))
    assert b"preamble\r\n--outer b\r\n" in data
    rec = dkim_record(loft, "example.org")
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5: rec), data[:800]
    assert "event=downgraded" in loft.log()


def test_8bit_part_header_to_a_peer_without_8bitmime_bounces_clearly(env):
    """A part whose own header is 8-bit cannot be made 7-bit without
    SMTPUTF8: a clear 5.6.3 bounce, nothing sent as-is."""
    loft, fakes = env
    before = len(inbox(loft, "a@example.org"))
    n = len(fakes["seven.test"].log)
    msg = ("From: a@example.org\r\nTo: mp@seven.test\r\nSubject: mp\r\n"
           "Date: Mon, 07 Dec 2026 00:00:00 +0000\r\nMessage-ID: <mp@example.org>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain; name=\"Gr\u00fc\u00dfe.txt\"\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\nGr\u00fc\u00dfe\r\n--b--\r\n").encode()
    submit(loft, ["mp@seven.test"], msg=msg)
    row = row_of(loft, "mp@seven.test")
    assert row[2] == "bounced" and "8BITMIME" in row[4], row
    assert len(fakes["seven.test"].log) == n  # never sent as-is
    end = time.time() + 20
    while time.time() < end and len(inbox(loft, "a@example.org")) == before:
        time.sleep(0.1)
    assert "Status: 5.6.3" in inbox(loft, "a@example.org")[-1].decode()
    assert "event=downgrade-failed" in loft.log() and "part's header" in loft.log()


def test_7bit_to_the_same_peer_goes_through(env):
    loft, fakes = env
    submit(loft, ["w@seven.test"])
    row = row_of(loft, "w@seven.test")
    assert row[2] == "done", row
    mail, rcpts, data = fakes["seven.test"].log[-1]
    assert mail.startswith(b"MAIL FROM:<a@example.org> SIZE=") and b"BODY=8BITMIME" not in mail
    assert b"\r\n..leading dot line\r\n" in data  # dot-stuffed on the wire


def test_utf8_address_to_a_peer_without_smtputf8_bounces_clearly(env):
    import smtplib
    import ssl
    from loft_queue_helpers import USERS
    loft, fakes = env
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    rcpt = "j\u00fcrgen@seven.test"
    with smtplib.SMTP("127.0.0.1", loft.port("submission"), timeout=30) as s:
        s.starttls(context=ctx)
        s.login("a@example.org", USERS["a@example.org"])
        s.sendmail("a@example.org", [rcpt],
                   ("From: a@example.org\r\nTo: %s\r\nSubject: utf8\r\n"
                    "Date: Mon, 07 Dec 2026 00:00:00 +0000\r\nMessage-ID: <u8@example.org>\r\n"
                    "\r\nhi\r\n" % rcpt).encode(), mail_options=["SMTPUTF8"])
    row = row_of(loft, rcpt)
    assert row[2] == "bounced" and "SMTPUTF8" in row[4], row
    assert all(rcpt.encode() not in b"".join(r) for _, r, _ in fakes["seven.test"].log)
