"""FETCH of message bytes streamed from the store (imapd/fetch.c with
lib/store_imap.c): exact bytes for whole messages, TEXT, partials and
several literals in one response; \\Seen set by BODY[]; bounded memory for
a big message read slowly; a message expunged while its literal is being
sent ends only that session.  Runs the real loftd --dev with loft-imapd."""
import os
import random
import re
import socket
import ssl
import time

import pytest

from loft_imap_helpers import ctx, imap_ssl, running_loft

USER, PASS = "s@example.org", "stream pw"


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    yield from running_loft(tmp_path_factory.mktemp("imapstream"), {USER: PASS})


def imaps(loft):
    return imap_ssl(loft, USER, PASS)


def big_message(size, seed):
    rnd = random.Random(seed)
    head = ("From: Big <big@example.com>\r\nTo: %s\r\nSubject: big %d\r\n"
            "Message-ID: <big%d@x>\r\n\r\n" % (USER, seed, seed)).encode()
    line = []
    body = bytearray()
    while len(body) < size:
        line = "".join(rnd.choice("abcdefghij klmnop") for _ in range(76))
        body += line.encode() + b"\r\n"
    return head, bytes(body)


def append(m, box, data, flags=""):
    typ, resp = m.append(box, flags, None, data)
    assert typ == "OK", resp
    return int(re.search(rb"APPENDUID \d+ (\d+)", resp[0]).group(1))


def imapd_pid(loft):
    return [p for n, p in loft.children().items() if n == "loft-imapd"][0]


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def test_whole_text_partial_and_tail(loft):
    m = imaps(loft)
    m.create("Stream1")
    head, body = big_message(3 * 1024 * 1024, 1)
    raw = head + body
    uid = append(m, "Stream1", raw)
    m.select("Stream1", readonly=True)
    # the literal is streamed; what follows it (UID, FLAGS) must follow it
    typ, d = m.uid("FETCH", str(uid), "(BODY.PEEK[] UID FLAGS)")
    assert typ == "OK"
    assert d[0][1] == raw
    assert b"UID %d" % uid in d[1] and b"FLAGS" in d[1]
    typ, d = m.uid("FETCH", str(uid), "(RFC822.SIZE BODY.PEEK[TEXT])")
    assert d[0][1] == body
    assert b"RFC822.SIZE %d" % len(raw) in d[0][0]
    for off, n in ((0, 10), (100, 70000), (len(raw) - 5, 100), (len(raw) + 3, 10)):
        typ, d = m.uid("FETCH", str(uid), "(BODY.PEEK[]<%d.%d>)" % (off, n))
        assert d[0][1] == raw[off:off + n], (off, n)
        assert b"<%d>" % off in d[0][0]
    typ, d = m.uid("FETCH", str(uid), "(BODY.PEEK[TEXT]<1000.5000>)")
    assert d[0][1] == body[1000:6000]
    # two literals in one response: the second is sent after the first
    typ, d = m.uid("FETCH", str(uid), "(BODY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[HEADER])")
    assert [x[1] for x in d if isinstance(x, tuple)] == [raw, body, head]
    m.logout()


def test_many_messages_in_order(loft):
    m = imaps(loft)
    m.create("Stream2")
    raws = []
    for i in range(40):
        head, body = big_message(random.Random(i).choice([200, 5000, 90000, 300000]), 100 + i)
        raws.append(head + body)
        append(m, "Stream2", raws[-1])
    m.select("Stream2", readonly=True)
    typ, d = m.fetch("1:*", "(BODY.PEEK[] FLAGS)")
    got = [x[1] for x in d if isinstance(x, tuple)]
    assert got == raws
    # RFC822 is BODY[] without PEEK, answered as RFC822
    typ, d = m.fetch("3", "(RFC822)")
    assert d[0][1] == raws[2] and b"RFC822 {" in d[0][0]
    m.logout()


def test_body_sets_seen(loft):
    m = imaps(loft)
    m.create("Stream3")
    head, body = big_message(400000, 7)
    append(m, "Stream3", head + body)
    append(m, "Stream3", head + body)
    m.select("Stream3")
    typ, d = m.fetch("1:2", "(BODY[])")
    assert [x[1] for x in d if isinstance(x, tuple)] == [head + body] * 2
    typ, d = m.fetch("1:2", "(FLAGS)")
    assert all(b"\\Seen" in x for x in d), d
    m.logout()


class Slow:
    """A TLS IMAP client that sends a command and then reads only when told."""

    def __init__(self, loft):
        raw = socket.create_connection(("127.0.0.1", loft.port("imaps")))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.s = ctx().wrap_socket(raw)
        self.s.settimeout(20)
        self.buf = b""
        self.until(b"\r\n")
        self.s.sendall(b"a LOGIN %s \"%s\"\r\n" % (USER.encode(), PASS.encode()))
        self.until(b"a OK")

    def until(self, marker):
        while marker not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf[-200:])
            self.buf += d
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_all(self):
        """Reads until EOF; returns the byte count."""
        n = len(self.buf)
        self.buf = b""
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return n
                n += len(d)
        except (ConnectionError, ssl.SSLError, OSError):
            return n


def test_big_message_read_slowly_stays_bounded(loft):
    m = imaps(loft)
    m.create("Stream4")
    head, body = big_message(24 * 1024 * 1024, 9)
    raw = head + body
    append(m, "Stream4", raw)
    m.logout()
    pid = imapd_pid(loft)
    c = Slow(loft)  # logged in first: the password hash has its own peak
    c.s.sendall(b"b SELECT Stream4\r\n")
    c.until(b"b OK")
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")  # resets VmHWM
    except OSError:
        # tests/run.py accepts only "machine:" skips: a kernel without
        # clear_refs cannot be fixed from here
        pytest.skip("machine: the kernel cannot reset VmHWM (/proc/PID/clear_refs)")
    base = status_kb(pid, "VmRSS")
    c.s.sendall(b"c FETCH 1 (BODY.PEEK[] UID)\r\n")
    first = c.until(b"}\r\n")
    assert b"{%d}" % len(raw) in first
    got = bytearray(c.buf)
    while len(got) < len(raw):
        d = c.s.recv(65536)
        assert d
        got += d
        time.sleep(0.0005)
    c.buf = bytes(got[len(raw):])
    assert bytes(got[:len(raw)]) == raw
    assert b"UID 1)\r\nc OK" in c.until(b"c OK")
    # the whole message was never held: a few MiB at most on top of the
    # RSS before the FETCH (streamed in 64 KiB chunks below a 2 MiB mark)
    peak = status_kb(pid, "VmHWM")
    with open("/proc/%d/maps" % pid) as f:
        asan = "libasan" in f.read()  # its quarantine keeps freed memory
    if not asan:
        assert peak - base < 8 * 1024, (base, peak)


def test_message_gone_mid_literal_ends_only_that_session(loft):
    m = imaps(loft)
    m.create("Stream5")
    head, body = big_message(20 * 1024 * 1024, 11)
    raw = head + body
    append(m, "Stream5", raw)
    c = Slow(loft)
    c.s.sendall(b"b SELECT Stream5\r\nc FETCH 1 (BODY.PEEK[])\r\n")
    c.until(b"}\r\n")
    time.sleep(0.3)  # the server has filled the socket and waits
    m.select("Stream5")
    m.store("1", "+FLAGS", "\\Deleted")
    assert m.expunge()[0] == "OK"
    n = c.read_all()
    assert n < len(raw)  # ended before the literal's end
    # the other session and new ones go on
    assert m.noop()[0] == "OK"
    m2 = imaps(loft)
    assert m2.select("Stream5")[1] == [b"0"]
    m2.logout()
    m.logout()
    assert "event=fetch-message-gone" in loft.log()
