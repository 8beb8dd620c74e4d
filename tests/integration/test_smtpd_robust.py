"""loft-smtpd under hostile or clumsy input: SMTP smuggling variants,
pipelining split across packets and packed into one, over-long lines, huge
SIZE values, commands out of order, NUL bytes and garbage, a slowloris
client, an early talker, and every limit with its reply.  Each case must
get a clear reply, the daemon must not crash, other clients must be
served."""
import base64
import os
import socket
import threading
import time

import pytest

from loft_smtp_helpers import PASSWORDS, Raw, assert_clean, inbox, message_count, start_loft, strip_trace

CONF = {
    "smtpd.greeting_delay_ms": "300",
    "smtpd.max_bad_commands": "10",
    "smtpd.max_recipients": "5",
    "smtpd.max_connections_per_ip": "8",
    "smtpd.max_commands": "60",
    "smtpd.timeout_command": "2",
    "smtpd.max_message_size": "200000",
    "smtpd.auth_free_failures": "0",
    "smtpd.auth_max_failures": "3",
    "smtpd.auth_max_delay_ms": "400",
}


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    l = start_loft(tmp_path_factory.mktemp("smtpd-robust"), conf=CONF)
    yield l
    pid = l.children().get("loft-smtpd")
    l.stop()
    assert_clean(l)
    assert pid


def alive(loft):
    """The daemon still answers a whole transaction."""
    with Raw(loft.port("mx")) as r:
        assert r.cmd("EHLO check.test")[0] == 250
        assert r.cmd("NOOP")[0] == 250
        assert r.cmd("QUIT")[0] == 221


def begin(r, rcpt="a@example.org"):
    assert r.cmd("EHLO client.test")[0] == 250
    assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
    assert r.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
    assert r.cmd("DATA")[0] == 354


SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\r", b"\n.\r",
           b"\r\n.\r\r\n", b"\r\n\x00.\r\n", b".\n", b"\r\n.\n\r\n"]


@pytest.mark.parametrize("variant", SMUGGLE, ids=[repr(v) for v in SMUGGLE])
def test_smuggling(loft, variant):
    before = len(inbox(loft, "b@example.org"))
    smuggled = (b"MAIL FROM:<ceo@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
                b"From: ceo@example.org\r\nSubject: smuggled\r\n\r\nPay now\r\n")
    with Raw(loft.port("mx")) as r:
        begin(r)
        r.send(b"From: x@remote.example\r\nSubject: carrier\r\n\r\ntext" + variant + smuggled)
        # nothing may answer yet: the data has not ended
        r.s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            r.line()
        r.s.settimeout(10)
        r.send(b".\r\n")
        code, text = r.reply()
        assert code == 550 and "5.6.0" in text, text
        # the session is in step: the next command is a command
        assert r.cmd("RSET")[0] == 250
        assert r.cmd("NOOP")[0] == 250
    assert not any(b"smuggled" in m for m in inbox(loft, "b@example.org")[before:])


def test_bare_lf_body_refused_crlf_fine(loft):
    with Raw(loft.port("mx")) as r:
        begin(r)
        r.send(b"Subject: lf\r\n\r\nline\nline\r\n.\r\n")
        code, text = r.reply()
        assert code == 550 and "bare" in text.lower()
        assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250


def test_pipelining_one_packet(loft):
    with Raw(loft.port("mx")) as r:
        # a whole session in one write: every reply comes back in order
        r.send(b"EHLO client.test\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<a@example.org>\r\n"
               b"RCPT TO:<nobody@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
               b"Subject: pipelined\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
        codes = [r.reply()[0] for _ in range(8)]
        assert codes == [250, 250, 250, 550, 250, 354, 250, 250] or \
            codes[:6] == [250, 250, 250, 550, 250, 354]
    assert any(b"Subject: pipelined" in m for m in inbox(loft, "b@example.org"))


def test_pipelining_byte_by_byte(loft):
    script = (b"EHLO client.test\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<a@example.org>\r\n"
              b"DATA\r\nSubject: bytewise\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
    with Raw(loft.port("mx")) as r:
        r.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(script)):
            r.send(script[i:i + 1])
            time.sleep(0.001)
        codes = [r.reply()[0] for _ in range(6)]
        assert codes == [250, 250, 250, 354, 250, 221]
    m = [x for x in inbox(loft, "a@example.org") if b"Subject: bytewise" in x]
    assert len(m) == 1 and strip_trace(m[0]) == b"Subject: bytewise\r\n\r\n.dot\r\n"


def test_many_commands_one_packet(loft):
    with Raw(loft.port("mx")) as r:
        r.send(b"EHLO client.test\r\n" + b"NOOP\r\n" * 50)
        codes = [r.reply()[0] for _ in range(51)]
        assert codes == [250] * 51
        # and the command limit (60) ends it clearly
        r.send(b"NOOP\r\n" * 20)
        codes = [r.reply()[0] for _ in range(10)]
        assert codes[-1] == 421
        assert r.closed()


def test_long_command_line(loft):
    with Raw(loft.port("mx")) as r:
        r.cmd("EHLO client.test")
        code, text = r.cmd("MAIL FROM:<" + "a" * 600 + "@remote.example>")
        assert code == 500 and "5.5.2" in text and "too long" in text
        # a long line with no newline yet is refused as soon as it is known
        r.send(b"X" * 2000)
        code, text = r.reply()
        assert code == 500
        r.send(b"\r\n")
        assert r.cmd("NOOP")[0] == 250


def test_long_data_line(loft):
    with Raw(loft.port("mx")) as r:
        begin(r)
        r.send(b"Subject: long\r\n\r\n" + b"x" * 998 + b"\r\n.\r\n")
        assert r.reply()[0] == 250
        assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
        assert r.cmd("RCPT TO:<a@example.org>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        r.send(b"Subject: long\r\n\r\n" + b"x" * 999 + b"\r\n.\r\n")
        code, text = r.reply()
        assert code == 550 and "5.5.2" in text


def test_message_too_big(loft):
    with Raw(loft.port("mx")) as r:
        begin(r)
        r.send(b"Subject: big\r\n\r\n" + (b"y" * 98 + b"\r\n") * 3000 + b".\r\n")
        code, text = r.reply()
        assert code == 552 and "5.3.4" in text
        assert r.cmd("NOOP")[0] == 250


@pytest.mark.parametrize("size,code", [("99999999999999999999999999", 555),
                                       ("18446744073709551615", 552), ("1000000000", 552),
                                       ("-5", 555), ("12abc", 555), ("100", 250)])
def test_huge_size(loft, size, code):
    with Raw(loft.port("mx")) as r:
        r.cmd("EHLO client.test")
        assert r.cmd("MAIL FROM:<x@remote.example> SIZE=" + size)[0] == code


def test_out_of_order(loft):
    with Raw(loft.port("mx")) as r:
        code, text = r.cmd("MAIL FROM:<x@remote.example>")
        assert code == 503 and "EHLO" in text
        r.cmd("EHLO client.test")
        assert r.cmd("DATA")[0] == 503
        assert r.cmd("RCPT TO:<a@example.org>")[0] == 503
        r.cmd("MAIL FROM:<x@remote.example>")
        code, text = r.cmd("DATA")
        assert code == 503 and "RCPT" in text
        assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 503
        assert r.cmd("RSET")[0] == 250
        assert r.cmd("VRFY a@example.org")[0] == 252
        assert r.cmd("EXPN team@example.org")[0] == 502
        assert r.cmd("HELP")[0] == 214
        code, text = r.cmd("STARTTLS now")
        assert code == 501
        # BDAT with no transaction: the chunk is read (we stay in step), then 503
        r.send(b"BDAT 10\r\n0123456789")
        assert r.reply()[0] == 503
        assert r.cmd("NOOP")[0] == 250


def test_nul_and_garbage(loft):
    with Raw(loft.port("mx")) as r:
        r.cmd("EHLO client.test")
        assert r.cmd("NO\x00OP")[0] == 500
        assert r.cmd("\x01\x02\x03")[0] == 500
        r.send(b"NOOP\n")  # bare LF ending a command
        assert r.reply()[0] == 500
        assert r.cmd("NOOP")[0] == 250
        begin(r)
        r.send(b"Subject: nul\r\n\r\na\x00b\r\n.\r\n")
        code, text = r.reply()
        assert code == 550 and "NUL" in text
    with Raw(loft.port("mx")) as r:
        r.send(os.urandom(300).replace(b"\n", b"") + b"\r\n")
        assert r.reply()[0] == 500
        r.send(b"GARBAGE\r\n" * 20)
        codes = []
        try:
            while True:
                codes.append(r.reply()[0])
        except (EOFError, ConnectionResetError):
            pass
        assert codes[-1] == 421 and len(codes) <= 10
    alive(loft)


def test_max_recipients(loft):
    with Raw(loft.port("mx")) as r:
        r.cmd("EHLO client.test")
        r.cmd("MAIL FROM:<x@remote.example>")
        for i in range(5):
            assert r.cmd("RCPT TO:<a@example.org>")[0] == 250
        code, text = r.cmd("RCPT TO:<b@example.org>")
        assert code == 452 and "4.5.3" in text


def test_early_talker(loft):
    # from an address of its own: 127.0.0.1 passed the check in the tests
    # before and is greeted at once (test_smtpd_greeting.py)
    s = socket.create_connection(("127.0.0.1", loft.port("mx")), source_address=("127.0.0.99", 0))
    s.sendall(b"EHLO impatient.test\r\n")
    data = b""
    s.settimeout(5)
    while True:
        d = s.recv(1000)
        if not d:
            break
        data += d
    s.close()
    assert data.startswith(b"554 5.5.0")
    assert b"220" not in data


def test_slowloris_does_not_block_others(loft):
    slow = socket.create_connection(("127.0.0.1", loft.port("mx")))
    slow.settimeout(10)
    assert slow.recv(1000).startswith(b"220")
    got = {}

    def dribble():
        t0 = time.time()
        try:
            for ch in b"EHLO " + b"x" * 40:
                slow.sendall(bytes([ch]))
                time.sleep(0.2)
        except OSError:
            pass
        try:
            got["reply"] = slow.recv(1000)
        except OSError as e:
            got["reply"] = repr(e).encode()
        got["after"] = time.time() - t0

    t = threading.Thread(target=dribble)
    t.start()
    time.sleep(0.3)
    t0 = time.time()
    with Raw(loft.port("mx")) as r:
        begin(r, "b@example.org")
        r.send(b"Subject: while-slow\r\n\r\nok\r\n.\r\n")
        assert r.reply()[0] == 250
    assert time.time() - t0 < 2
    t.join(15)
    slow.close()
    # timeout_command is 2 s: the dribbler is cut off though it keeps sending
    assert got["reply"].startswith(b"421 4.4.2"), got
    assert got["after"] < 6


def test_per_ip_connection_limit(loft):
    time.sleep(0.3)  # sessions of earlier tests wind down
    # connect all first (greetings take 0.3 s each; timeout_command is 2 s)
    conns = [Raw(loft.port("mx"), greet=False) for _ in range(10)]
    try:
        greetings = [c.reply() for c in conns]
        codes = [g[0] for g in greetings]
        assert codes.count(220) <= 8 and codes.count(421) >= 2, codes
        assert all(g[1].startswith("421 4.7.0") for g in greetings if g[0] != 220)
    finally:
        for c in conns:
            c.close()
    time.sleep(0.2)
    alive(loft)


def test_auth_failures_slow_down_then_refuse(loft):
    def attempt(pw):
        with Raw(loft.port("submissions"), tls=True) as r:
            r.cmd("EHLO client.test")
            resp = base64.b64encode(b"\0c@example.net\0" + pw.encode()).decode()
            t0 = time.time()
            code, text = r.cmd("AUTH PLAIN " + resp)
            return code, text, time.time() - t0
    first = attempt("wrong1")
    assert first[0] == 535
    slow = attempt("wrong2")
    assert slow[0] == 535 and slow[2] >= 0.15, slow
    third = attempt("wrong3")
    assert third[0] == 535
    refused = attempt(PASSWORDS["c@example.net"])  # even the right password now
    assert refused[0] == 454 and "4.7.0" in refused[1]


def test_daemon_alive_at_end(loft):
    alive(loft)
    assert message_count(loft) > 0
