"""loft-imapd under hostile clients: what one connection can make the server
hold.  Before login the parser takes only a few KiB (no "+" for a big
literal, a big LITERAL+ ends the connection); logged in, only APPEND gets
APPENDLIMIT; a client that pipelines and never reads stops being read; a
client that never logs in is dropped at imapd.login_deadline /
pop3.login_deadline however busy it keeps the connection.  Memory is the
loft-imapd RSS read from /proc during the test."""
import socket
import threading
import time

import pytest

from loft_imap_helpers import PASS, USER, ImapRaw, ctx, finish, start_loft

MB = 1024 * 1024


def sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def assert_grew_less(pid, base, limit_kib, what, settle_s=0):
    """RSS growth since base stays under limit_kib (or comes back under it
    within settle_s: the search index of a stored message is written by a
    thread behind the APPEND, which holds the message's text while it
    works).  Not under ASan: its quarantine keeps freed blocks (up to
    256 MB) and so RSS says nothing there; the behaviour (no "+", close,
    stalled sender) is still checked."""
    deadline = time.monotonic() + settle_s
    while True:
        grown = rss_kib(pid) - base
        if grown < limit_kib or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    print("%s: loft-imapd RSS grew %d KiB" % (what, grown))
    if not sanitized(pid):
        assert grown < limit_kib, "%s grew loft-imapd by %d KiB" % (what, grown)


def start(tmp_path_factory, name, conf=None):
    return start_loft(tmp_path_factory.mktemp(name), {USER: PASS}, conf=conf)


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    lf = start(tmp_path_factory, "imaplim")
    yield lf
    finish(lf)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    lf = start(tmp_path_factory, "imapdl",
               {"imapd.login_deadline": 2, "pop3.login_deadline": 2})
    yield lf
    finish(lf)


def imapd_pid(lf):
    return lf.children()["loft-imapd"]


class Raw(ImapRaw):
    """IMAP by hand: plain (not logged in) or TLS (logged in)."""

    def __init__(self, lf, tls=False, login=False, rcvbuf=None):
        s = socket.socket()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.connect(("127.0.0.1", lf.port("imaps" if tls else "imap")))
        super().__init__(ctx().wrap_socket(s) if tls else s, login)

    def closed(self):
        """True once the server has closed (EOF or reset)."""
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True


def flood(r, chunk, limit):
    """Sends chunk until limit bytes went or the server closed.  Returns the
    bytes sent."""
    sent = 0
    r.s.settimeout(5)
    try:
        while sent < limit:
            r.s.sendall(chunk)
            sent += len(chunk)
    except socket.timeout:
        pass
    except OSError:  # reset, broken pipe, TLS EOF: the server closed
        pass
    r.s.settimeout(10)
    return sent


def test_preauth_literals_refused(loft):
    pid = imapd_pid(loft)
    base = rss_kib(pid)
    r = Raw(loft)
    # a synchronising literal too big for LOGIN: BAD at once, no "+"
    r.send(b"a1 LOGIN {5000}\r\n")
    assert r.line().startswith(b"a1 BAD")
    # a small one is still fine (the plain port then refuses LOGIN itself)
    r.send(b"a2 LOGIN {3}\r\n")
    assert r.line().startswith(b"+ ")
    r.send(b"abc x\r\n")
    assert r.line().startswith(b"a2 NO [PRIVACYREQUIRED]")
    # APPEND before login gets no APPENDLIMIT: a 50 MB synchronising
    # literal is refused without "+"
    r.send(b"a3 APPEND INBOX {50000000}\r\n")
    assert r.line().startswith(b"a3 BAD")
    assert r.cmd(b"a4 NOOP")[-1].startswith(b"a4 OK")
    # ... and a 50 MB LITERAL+ ends the connection: BYE and a tagged BAD
    r.send(b"a5 APPEND INBOX {50000000+}\r\n")
    assert r.line().startswith(b"* BYE")
    assert r.line().startswith(b"a5 BAD")
    flood(r, b"x" * 65536, 48 * MB)
    assert r.closed()
    r.close()
    # many small LITERAL+ in one command: the whole command is bounded too
    r = Raw(loft)
    r.send(b"b1 NOOP")
    sent = flood(r, b" {3000+}\r\n" + b"y" * 3000, 64 * MB)
    assert sent < 16 * MB, "server kept reading one pre-auth command"
    assert r.closed()
    r.close()
    assert_grew_less(pid, base, 8 * 1024, "pre-auth literals")


def test_authed_limits_and_shrink(loft):
    pid = imapd_pid(loft)
    r = Raw(loft, tls=True, login=True)
    assert r.cmd(b"s SELECT INBOX")[-1].startswith(b"s OK")
    base = rss_kib(pid)
    # APPEND logged in gets APPENDLIMIT (default 50 MB)
    size = 12 * MB
    body = b"Subject: big\r\n\r\n" + (b"z" * 76 + b"\r\n") * (size // 78)
    r.send(b"p APPEND INBOX {%d}\r\n" % len(body))
    assert r.line().startswith(b"+ ")
    r.send(body + b"\r\n")
    while True:
        l = r.line()
        if l.startswith(b"p "):
            break
    assert l.startswith(b"p OK"), l
    assert r.cmd(b"n NOOP")[-1].startswith(b"n OK")
    time.sleep(0.3)
    # the parser gave the 12 MB buffer back after the command
    assert_grew_less(pid, base, 6 * 1024, "after a 12 MB APPEND", settle_s=60)
    # over APPENDLIMIT: NO/BAD before any byte, no "+"
    r.send(b"q APPEND INBOX {999999999}\r\n")
    assert r.line().startswith(b"q BAD")
    # other commands stay small even logged in
    r.send(b"t NOOP")
    sent = flood(r, b" {65536+}\r\n" + b"w" * 65536, 64 * MB)
    assert sent < 16 * MB
    assert r.closed()
    r.close()
    assert_grew_less(pid, base, 8 * 1024, "logged-in literals")


def test_pipelining_client_that_never_reads(loft):
    pid = imapd_pid(loft)
    base = rss_kib(pid)
    r = Raw(loft, rcvbuf=4096)
    n = 600000
    data = b"c CAPABILITY\r\n" * n
    done = threading.Event()

    def sender():
        r.s.sendall(data)
        done.set()

    r.s.settimeout(None)
    t = threading.Thread(target=sender, daemon=True)
    t.start()
    time.sleep(2.0)
    # the server stopped reading: the sender is stuck, memory is not
    assert not done.is_set(), "server read 8 MB of commands nobody read replies to"
    assert_grew_less(pid, base, 4 * 1024, "unread IMAP output")
    # reading resumes the session: every command gets its answer
    r.s.settimeout(20)
    got, buf = 0, b""
    while got < n:
        d = r.s.recv(1 << 20)
        assert d, "closed after %d replies" % got
        buf += d
        cut = buf.rfind(b"\r\n")
        if cut >= 0:
            # whole lines only, so no reply is counted twice or cut
            got += buf[:cut + 2].count(b"c OK CAPABILITY completed\r\n")
            buf = buf[cut + 2:]
    r.buf = buf
    t.join(10)
    assert done.is_set()
    assert r.cmd(b"z NOOP")[-1].startswith(b"z OK")
    r.close()


def test_pop3_pipelining_client_that_never_reads(loft):
    pid = imapd_pid(loft)
    base = rss_kib(pid)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", loft.port("pop3")))
    s.settimeout(3)
    sent = 0
    try:
        while sent < 8 * MB:
            s.sendall(b"CAPA\r\n" * 10000)
            sent += 60000
    except socket.timeout:
        pass
    assert sent < 8 * MB, "POP3 read 8 MB of commands nobody read replies to"
    assert_grew_less(pid, base, 4 * 1024, "unread POP3 output")
    s.close()


def test_imap_login_deadline(quick):
    r = Raw(quick)
    t0 = time.monotonic()
    bye = None
    while time.monotonic() - t0 < 8:
        try:
            out = r.cmd(b"k NOOP")
        except (EOFError, ConnectionResetError, BrokenPipeError) as e:
            bye = e
            break
        if out[0].startswith(b"* BYE"):
            bye = out[0]
            break
        time.sleep(0.3)
    took = time.monotonic() - t0
    assert bye is not None, "a busy unauthenticated client outlived the deadline"
    assert 1.5 < took < 5, took
    r.close()
    assert "event=login-deadline" in quick.log()
    # a logged-in session is not cut by the deadline
    r = Raw(quick, tls=True, login=True)
    time.sleep(2.5)
    assert r.cmd(b"m NOOP")[-1].startswith(b"m OK")
    r.close()


def test_pop3_login_deadline(quick):
    s = socket.create_connection(("127.0.0.1", quick.port("pop3")))
    s.settimeout(10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    t0 = time.monotonic()
    last = b""
    while time.monotonic() - t0 < 8:
        try:
            s.sendall(b"CAPA\r\n")
        except (BrokenPipeError, ConnectionResetError):
            break
        l = f.readline()
        if not l or l.startswith(b"-ERR"):
            last = l
            break
        while l != b".\r\n":
            l = f.readline()
            if not l:
                break
        time.sleep(0.3)
    took = time.monotonic() - t0
    assert 1.5 < took < 5, took
    assert last == b"" or b"too long" in last
    s.close()
    # logged in (TRANSACTION) is not cut
    import poplib
    p = poplib.POP3_SSL("127.0.0.1", quick.port("pop3s"), context=ctx(), timeout=10)
    p.user(USER)
    p.pass_(PASS)
    time.sleep(2.5)
    assert p.noop().startswith(b"+OK")
    p.quit()
