"""COMPRESS=DEFLATE (RFC 4978) in loft-imapd, driven by Python's imaplib
with its socket wrapped in zlib (raw deflate both ways), and by raw sockets
for what imaplib will not do: compressed commands pipelined in the same
packet as COMPRESS, a corrupt stream, a second COMPRESS."""
import imaplib
import os
import random
import ssl
import time
import zlib

import pytest

from loft_imap_helpers import PASS, USER, Lines, ctx, running_loft, tls_connect

# imaplib does not know the command; allow it everywhere so the server's
# own state check is what is tested
imaplib.Commands.setdefault("COMPRESS", ("NONAUTH", "AUTH", "SELECTED"))


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    yield from running_loft(tmp_path_factory.mktemp("imapz"), {USER: PASS})


class Deflating:
    """Mixin: after compress(), imaplib's bytes go through zlib."""

    zin = zout = None
    zbuf = b""
    wire_in = wire_out = 0  # compressed bytes seen on the socket

    def compress(self):
        typ, dat = self._simple_command("COMPRESS", "DEFLATE")
        if typ == "OK":
            self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
            self.zin = zlib.decompressobj(-15)
        return typ, dat

    def send(self, data):
        if self.zout is not None:
            data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
            self.wire_out += len(data)
        super().send(data)

    def _zfill(self):
        raw = self.file.read1(65536)
        if not raw:
            raise imaplib.IMAP4.abort("socket closed")
        self.wire_in += len(raw)
        self.zbuf += self.zin.decompress(raw)

    def read(self, size):
        if self.zin is None:
            return super().read(size)
        while len(self.zbuf) < size:
            self._zfill()
        out, self.zbuf = self.zbuf[:size], self.zbuf[size:]
        return out

    def readline(self):
        if self.zin is None:
            return super().readline()
        while b"\n" not in self.zbuf:
            self._zfill()
        i = self.zbuf.index(b"\n") + 1
        out, self.zbuf = self.zbuf[:i], self.zbuf[i:]
        return out


class ZIMAP4_SSL(Deflating, imaplib.IMAP4_SSL):
    pass


class ZIMAP4(Deflating, imaplib.IMAP4):
    pass


def message(subject, body):
    return ("From: Bob <bob@example.com>\r\nTo: a@example.org\r\nSubject: %s\r\n"
            "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <%s@z>\r\n\r\n%s"
            % (subject, subject.replace(" ", "."), body)).encode()


def test_capability_only_after_login(loft):
    m = ZIMAP4_SSL("127.0.0.1", loft.port("imaps"), ssl_context=ctx())
    assert "COMPRESS=DEFLATE" not in m.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="Log in first"):
        m._simple_command("COMPRESS", "DEFLATE")
    m.login(USER, PASS)
    typ, dat = m.capability()
    assert b"COMPRESS=DEFLATE" in dat[0]
    m.logout()


def test_imaplib_session_compressed(loft):
    m = ZIMAP4_SSL("127.0.0.1", loft.port("imaps"), ssl_context=ctx())
    m.login(USER, PASS)
    typ, dat = m.compress()
    assert typ == "OK", dat
    # a second COMPRESS is refused, compressed, and the session goes on
    typ, dat = m._simple_command("COMPRESS", "DEFLATE")
    assert typ == "NO" and dat[0].startswith(b"[COMPRESSIONACTIVE]"), dat
    m.create("Zed")
    # a large, compressible body (literal upload) and a random one
    text = "".join("line %d of a long and boring newsletter\r\n" % i for i in range(40000))
    rnd = random.Random(4).randbytes(300000).hex()
    rnd = "\r\n".join(rnd[i:i + 76] for i in range(0, len(rnd), 76))
    for subj, body in (("big text", text), ("random", rnd)):
        typ, dat = m.append("Zed", r"(\Seen)", None, message(subj, body))
        assert typ == "OK", dat
    typ, dat = m.select("Zed")
    assert typ == "OK" and dat[0] == b"2"
    typ, dat = m.fetch("1:2", "(FLAGS BODY.PEEK[TEXT])")
    assert typ == "OK"
    bodies = [part[1] for part in dat if isinstance(part, tuple)]
    assert bodies == [text.encode(), rnd.encode()]
    typ, dat = m.search(None, "SUBJECT", "random")
    assert dat == [b"2"]
    typ, dat = m.store("1", "+FLAGS", r"(\Flagged)")
    assert typ == "OK" and b"\\Flagged" in dat[0]
    # the text compresses about 20:1 and hex 2:1: what came over the wire
    # must be well under half of what imaplib read
    assert m.wire_in < (len(text) + len(rnd)) // 2, m.wire_in
    m.close()
    m.delete("Zed")
    typ, dat = m.logout()
    assert typ == "BYE"


def test_starttls_port_then_compress(loft):
    m = ZIMAP4("127.0.0.1", loft.port("imap"))
    m.starttls(ssl_context=ctx())
    m.login(USER, PASS)
    assert m.compress()[0] == "OK"
    typ, dat = m.list()
    assert typ == "OK" and any(b"INBOX" in l for l in dat)
    typ, dat = m.noop()
    assert typ == "OK"
    m.logout()


class Raw(Lines):
    def __init__(self, loft):
        super().__init__(tls_connect(loft.port("imaps")))
        assert self.line().startswith(b"* OK")
        self.s.sendall(b"l LOGIN a@example.org \"s3cret pw\"\r\n")
        while not self.line().startswith(b"l OK"):
            pass


def test_pipelined_compressed_commands(loft):
    r = Raw(loft)
    zo = zlib.compressobj(6, zlib.DEFLATED, -15)
    zi = zlib.decompressobj(-15)
    # COMPRESS and the compressed commands after it in one TLS record
    piped = zo.compress(b"n NOOP\r\ns SELECT INBOX\r\nq LOGOUT\r\n") + zo.flush(zlib.Z_SYNC_FLUSH)
    r.s.sendall(b"c COMPRESS DEFLATE\r\n" + piped)
    assert r.line() == b"c OK DEFLATE active"
    data = zi.decompress(r.buf)
    while b"q OK" not in data:
        d = r.s.recv(65536)
        if not d:
            break
        data += zi.decompress(d)
    lines = data.split(b"\r\n")
    assert any(l.startswith(b"n OK") for l in lines), data
    assert any(l.startswith(b"s OK [READ-WRITE]") for l in lines), data
    assert any(l.startswith(b"q OK") for l in lines), data


def test_byte_by_byte_compressed_input(loft):
    r = Raw(loft)
    r.s.sendall(b"c COMPRESS DEFLATE\r\n")
    assert r.line() == b"c OK DEFLATE active"
    zo = zlib.compressobj(6, zlib.DEFLATED, -15)
    zi = zlib.decompressobj(-15)
    piped = zo.compress(b"a1 NOOP\r\na2 STATUS INBOX (MESSAGES)\r\n") + \
        zo.flush(zlib.Z_SYNC_FLUSH)
    for b in piped:
        r.s.sendall(bytes([b]))
        time.sleep(0.002)
    data = zi.decompress(r.buf)
    while b"a2 " not in data:
        data += zi.decompress(r.s.recv(65536))
    assert b"a1 OK" in data and b"* STATUS \"INBOX\" (MESSAGES 0)" in data


def test_corrupt_stream_closes_only_that_session(loft):
    other = ZIMAP4_SSL("127.0.0.1", loft.port("imaps"), ssl_context=ctx())
    other.login(USER, PASS)
    assert other.compress()[0] == "OK"
    r = Raw(loft)
    r.s.sendall(b"c COMPRESS DEFLATE\r\n")
    assert r.line() == b"c OK DEFLATE active"
    r.s.sendall(b"\xff" * 64)
    end = time.time() + 5
    closed = False
    while time.time() < end:
        try:
            if not r.s.recv(4096):
                closed = True
                break
        except (ConnectionError, ssl.SSLError):
            closed = True
            break
    assert closed
    assert loft.wait_log("event=compress-error", 5)
    assert other.noop()[0] == "OK"
    other.logout()


def test_unknown_mechanism(loft):
    m = imaplib.IMAP4_SSL("127.0.0.1", loft.port("imaps"), ssl_context=ctx())
    m.login(USER, PASS)
    with pytest.raises(imaplib.IMAP4.error):
        m._simple_command("COMPRESS", "LZMA")
    assert m.noop()[0] == "OK"
    m.logout()
