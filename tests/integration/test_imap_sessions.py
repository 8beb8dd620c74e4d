"""loft-imapd's session limits, each with small settings: sessions per client
address, in total and per user; the idle timeout (autologout) and IDLE, which
a client re-arms by re-issuing it; the refusal after repeated login
failures, shared with POP3.  Clients connect from distinct loopback source
addresses (127.0.0.2, ...) so each test owns its own address."""
import socket
import time

import pytest

from loft_imap_helpers import PASS, USER, ImapRaw, ctx, finish, start_loft

OTHER, OTHER_PW = "b@example.org", "b-secret pw"
VICTIM, VICTIM_PW = "c@example.org", "c-secret pw"

CONF = {
    "imapd.max_sessions": "5",
    "imapd.max_sessions_per_ip": "3",
    "imapd.max_sessions_per_user": "2",
    "imapd.idle_timeout": "2",
    "imapd.auth_free_failures": "1",
    "imapd.auth_max_failures": "3",
    "imapd.auth_max_delay_ms": "100",
}


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    lf = start_loft(tmp_path_factory.mktemp("imapsess"),
                    {USER: PASS, OTHER: OTHER_PW, VICTIM: VICTIM_PW}, conf=CONF)
    yield lf
    finish(lf, PASS)


@pytest.fixture(scope="module")
def loft_long_idle(tmp_path_factory):
    """The same limits with a 10-minute idle timeout, for tests that hold
    sessions across several logins: a yescrypt login on a loaded machine can
    take longer than the 2 s idle time above, and an autologout would free a
    slot the test counts on (test_sessions_per_user failed so in make test)."""
    conf = dict(CONF)
    conf["imapd.idle_timeout"] = "600"
    lf = start_loft(tmp_path_factory.mktemp("imapsess_long"),
                    {USER: PASS, OTHER: OTHER_PW}, conf=conf)
    yield lf
    finish(lf, PASS)


def connect(lf, src, tls=True):
    """A socket to imaps (or imap) from source address src; returns it
    with the greeting line read (b"* OK ..." or b"* BYE ...")."""
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", lf.port("imaps" if tls else "imap")))
    if tls:
        s = ctx().wrap_socket(s)
    r = ImapRaw(s, login=False)  # asserts the "* OK" greeting
    return r


def refused(lf, src, tls=True):
    """True when a new connection from src gets "* BYE" and is closed."""
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", lf.port("imaps" if tls else "imap")))
    s.settimeout(10)
    if tls:
        s = ctx().wrap_socket(s)
    data = b""
    try:
        while b"\r\n" not in data:
            d = s.recv(4096)
            if not d:
                break
            data += d
    finally:
        s.close()
    if data.startswith(b"* OK"):
        return False
    assert data.startswith(b"* BYE Too many connections"), data
    return True


def login(r, user, pw, tag=b"l"):
    return r.cmd(tag + b" LOGIN " + user.encode() + b' "' + pw.encode() + b'"')[-1]


def closed_within(r, seconds):
    """Reads until the server closes; returns (seconds taken, data read),
    or (None, data) if still open after `seconds`."""
    t0 = time.monotonic()
    data = r.buf
    r.s.settimeout(0.2)
    while time.monotonic() - t0 < seconds:
        try:
            d = r.s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0, data
        if not d:
            return time.monotonic() - t0, data
        data += d
    return None, data


def open_imap_sessions(lf):
    """IMAP sessions loft-imapd has open, from its connect and disconnect
    log lines (POP3 logs "ip=", IMAP "peer=")."""
    log = lf.log()
    return log.count("event=connect peer=") - log.count("event=disconnect reason=")


def wait_open_sessions(lf, n, timeout=5):
    """Waits until loft-imapd has n IMAP sessions open (closing is seen by
    the server a little after the client closed)."""
    end = time.time() + timeout
    while open_imap_sessions(lf) != n and time.time() < end:
        time.sleep(0.05)
    return open_imap_sessions(lf) == n


def test_sessions_per_address(loft):
    assert wait_open_sessions(loft, 0)
    held = [connect(loft, "127.0.0.2", tls=False) for _ in range(3)]
    assert refused(loft, "127.0.0.2", tls=False)
    assert "event=refused proto=imap reason=max-per-ip" in loft.log()
    # another address is not affected
    other = connect(loft, "127.0.0.3", tls=False)
    other.close()
    # a slot freed is a slot again
    held.pop().close()
    assert wait_open_sessions(loft, 2)
    held.append(connect(loft, "127.0.0.2", tls=False))
    for r in held:
        r.close()
    assert wait_open_sessions(loft, 0)


def test_sessions_in_total(loft):
    assert wait_open_sessions(loft, 0)
    held = [connect(loft, "127.0.0.%d" % a, tls=False) for a in (11, 11, 12, 12, 13)]
    assert refused(loft, "127.0.0.14", tls=False)
    held.pop(0).close()
    assert wait_open_sessions(loft, 4)
    held.append(connect(loft, "127.0.0.14", tls=False))
    for r in held:
        r.close()
    assert wait_open_sessions(loft, 0)


def test_sessions_per_user(loft_long_idle):
    loft = loft_long_idle
    assert wait_open_sessions(loft, 0)
    a1, a2, a3 = (connect(loft, "127.0.0.%d" % a) for a in (21, 22, 23))
    assert login(a1, USER, PASS).startswith(b"l OK")
    assert login(a2, USER, PASS).startswith(b"l OK")
    third = login(a3, USER, PASS)
    assert third.startswith(b"l NO [LIMIT]"), third
    assert "reason=too-many-sessions" in loft.log()
    # the session goes on; another user may log in on it
    assert login(a3, OTHER, OTHER_PW, b"m").startswith(b"m OK")
    # a logout frees the user's slot
    assert a1.cmd(b"z LOGOUT")[-1].startswith(b"z OK")
    a1.close()
    a4 = connect(loft, "127.0.0.24")
    end = time.time() + 5
    while True:
        r = login(a4, USER, PASS, b"n")
        if r.startswith(b"n OK") or time.time() > end:
            break
        time.sleep(0.1)
    assert r.startswith(b"n OK"), r
    for r in (a2, a3, a4):
        r.close()


def test_idle_timeout_logs_out(loft):
    r = connect(loft, "127.0.0.31")
    assert login(r, USER, PASS).startswith(b"l OK")
    # never before the 2 s idle time; the bound after it is generous (a
    # loaded machine is slow): the BYE text says which deadline acted
    took, data = closed_within(r, 60)
    assert took is not None and took > 1.5, (took, data)
    assert b"* BYE Autologout" in data, data
    assert "event=idle-timeout" in loft.log()
    # any command re-arms it: NOOP every second keeps the session for 5 s
    r = connect(loft, "127.0.0.31")
    assert login(r, USER, PASS).startswith(b"l OK")
    for i in range(5):
        time.sleep(1)
        assert r.cmd(b"k%d NOOP" % i)[-1].startswith(b"k%d OK" % i)
    r.close()


def test_idle_rearmed_by_the_client(loft):
    """RFC 2177: a client re-issues IDLE before the server's timeout; each
    DONE + IDLE re-arms it.  An IDLE left alone ends at the timeout."""
    r = connect(loft, "127.0.0.41")
    assert login(r, USER, PASS).startswith(b"l OK")
    assert r.cmd(b"s SELECT INBOX")[-1].startswith(b"s OK")
    t0 = time.monotonic()
    for i in range(5):  # 5 x ~1.2 s, well past the 2 s timeout
        r.send(b"i%d IDLE\r\n" % i)
        assert r.line().startswith(b"+ ")
        time.sleep(1.2)
        r.send(b"DONE\r\n")
        assert r.until_tag(b"i%d" % i)[-1].startswith(b"i%d OK" % i)
    assert time.monotonic() - t0 > 5.5
    # left alone in IDLE: autologout after the timeout
    r.send(b"j IDLE\r\n")
    assert r.line().startswith(b"+ ")
    took, data = closed_within(r, 60)
    assert took is not None and took > 1.5, (took, data)
    assert b"* BYE Autologout" in data, data
    assert "idle=1" in loft.log()


def test_refusal_after_repeated_login_failures(loft):
    r = connect(loft, "127.0.0.51")
    answers = [login(r, VICTIM, "wrong %d" % i, b"f%d" % i) for i in range(3)]
    assert all(b" NO [AUTHENTICATIONFAILED]" in a for a in answers), answers
    # past auth_max_failures: even the right password is refused, not checked
    refusal = login(r, VICTIM, VICTIM_PW, b"g")
    assert refusal.startswith(b"g NO [UNAVAILABLE]") and b"Too many failed" in refusal, refusal
    assert "reason=throttled" in loft.log()
    r.close()
    # the same address on POP3 (one throttle for both)
    s = socket.socket()
    s.bind(("127.0.0.51", 0))
    s.connect(("127.0.0.1", loft.port("pop3s")))
    s = ctx().wrap_socket(s)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"USER " + OTHER.encode() + b"\r\n")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"PASS " + OTHER_PW.encode() + b"\r\n")
    assert f.readline().startswith(b"-ERR [SYS/TEMP]")
    s.close()
    # the account is refused from another address too; other accounts
    # from that address are not
    r = connect(loft, "127.0.0.52")
    assert login(r, VICTIM, VICTIM_PW, b"h").startswith(b"h NO [UNAVAILABLE]")
    assert login(r, OTHER, OTHER_PW, b"o").startswith(b"o OK")
    r.close()
