"""POP3 in loft-imapd against clients nobody here wrote: Python's poplib
(plain port with STLS, implicit TLS on pop3s) and curl (pop3:// with STLS,
pop3s://).  Messages are put in with IMAP APPEND (imaplib over imaps), and
what POP3 deletes is checked from IMAP too.
"""
import base64
import imaplib
import os
import poplib
import re
import signal
import socket
import subprocess
import time

import pytest

from loft_imap_helpers import ctx as tls_ctx, require_binary, start_loft

PW = "pop pass 1"

MSGS = [
    b"From: a@example.net\r\nTo: u@example.org\r\nSubject: one\r\n\r\nfirst body\r\n",
    b"From: b@example.net\r\nSubject: two\r\n\r\n.leading dot\r\nmiddle\r\n.\r\n..two dots\r\nend\r\n",
    b"From: c@example.net\r\nSubject: three\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\n",
]

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"]


def addr(u):
    return "%s@example.org" % u


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    require_binary("loft-imapd")
    l = start_loft(tmp_path_factory.mktemp("pop3"), {addr(u): PW for u in USERS})
    for u in USERS:
        append(l, u, MSGS)
    yield l
    l.stop()
    assert "password=" + PW not in l.log() and PW not in l.log(), "a password reached the log"


def append(l, user, msgs):
    """Stores msgs in user's INBOX through IMAP APPEND; a failure fails the
    tests (it is loft-imapd's own feature, not a missing prerequisite)."""
    im = imaplib.IMAP4_SSL("127.0.0.1", l.port("imaps"), ssl_context=tls_ctx(), timeout=10)
    im.login(addr(user), PW)
    for m in msgs:
        typ, data = im.append("INBOX", None, None, m)
        assert typ == "OK", "IMAP APPEND failed: %r" % data
    im.logout()


def imap_state(l, user):
    """(uidvalidity, [uids]) of the user's INBOX seen through IMAP."""
    im = imaplib.IMAP4_SSL("127.0.0.1", l.port("imaps"), ssl_context=tls_ctx(), timeout=10)
    im.login(addr(user), PW)
    typ, data = im.status("INBOX", "(UIDVALIDITY)")
    uv = int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
    im.select("INBOX")
    typ, data = im.uid("SEARCH", "ALL")
    uids = [int(x) for x in data[0].split()]
    im.logout()
    return uv, uids


def pop_tls(l, user):
    p = poplib.POP3("127.0.0.1", l.port("pop3"), timeout=10)
    p.stls(tls_ctx())
    p.user(addr(user))
    p.pass_(PW)
    return p


def pop_ssl(l, user):
    p = poplib.POP3_SSL("127.0.0.1", l.port("pop3s"), context=tls_ctx(), timeout=10)
    p.user(addr(user))
    p.pass_(PW)
    return p


def test_plain_port_offers_only_stls(loft):
    p = poplib.POP3("127.0.0.1", loft.port("pop3"), timeout=10)
    assert p.getwelcome().startswith(b"+OK")
    caps = p.capa()
    assert "STLS" in caps and "UIDL" in caps and "TOP" in caps
    assert "USER" not in caps and "SASL" not in caps
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.user(addr("alice"))
    with pytest.raises(poplib.error_proto):
        p.stat()
    p.stls(tls_ctx())
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps and caps["SASL"] == ["PLAIN"]
    assert "RESP-CODES" in caps and "PIPELINING" in caps and "AUTH-RESP-CODE" in caps
    assert "IMPLEMENTATION" in caps
    p.quit()


def test_every_command_over_stls(loft):
    p = pop_tls(loft, "alice")
    total = sum(len(m) for m in MSGS)
    assert p.stat() == (3, total)
    resp, listing, _ = p.list()
    assert [l.split() for l in listing] == [[b"%d" % (i + 1), b"%d" % len(m)] for i, m in enumerate(MSGS)]
    assert p.list(2).split()[1:] == [b"2", b"%d" % len(MSGS[1])]
    # poplib undoes the dot-stuffing and the CRLFs
    resp, lines, octets = p.retr(2)
    assert resp.startswith(b"+OK %d" % len(MSGS[1]))
    assert b"\r\n".join(lines) + b"\r\n" == MSGS[1]
    resp, lines, _ = p.top(3, 2)
    assert lines == [b"From: c@example.net", b"Subject: three", b"", b"l1", b"l2"]
    resp, lines, _ = p.top(1, 0)
    assert lines == [b"From: a@example.net", b"To: u@example.org", b"Subject: one", b""]
    with pytest.raises(poplib.error_proto):
        p.retr(4)
    with pytest.raises(poplib.error_proto):
        p.list(0)
    assert p.dele(1).startswith(b"+OK")
    with pytest.raises(poplib.error_proto):
        p.retr(1)
    assert p.stat() == (2, total - len(MSGS[0]))
    p.rset()
    assert p.stat() == (3, total)
    assert p.noop().startswith(b"+OK")
    assert p.quit().startswith(b"+OK")


def test_pop3s_and_uidl_matches_imap(loft):
    uv, uids = imap_state(loft, "bob")
    p = pop_ssl(loft, "bob")
    resp, listing, _ = p.uidl()
    assert [l.split()[1].decode() for l in listing] == ["%d.%d" % (uv, u) for u in uids]
    assert p.uidl(3).split()[2].decode() == "%d.%d" % (uv, uids[2])
    p.quit()
    # stable in the next session
    p = pop_ssl(loft, "bob")
    assert p.uidl()[1] == listing
    p.quit()


def test_dele_quit_expunges_for_imap(loft):
    uv, before = imap_state(loft, "carol")
    p = pop_ssl(loft, "carol")
    p.dele(1)
    p.dele(3)
    p.quit()
    uv2, after = imap_state(loft, "carol")
    assert uv2 == uv and after == [before[1]]
    # a session that drops without QUIT deletes nothing
    p = pop_ssl(loft, "carol")
    p.dele(1)
    p.file.close()
    p.sock.close()
    time.sleep(0.3)
    assert imap_state(loft, "carol")[1] == [before[1]]


def test_snapshot_and_in_use(loft):
    p = pop_ssl(loft, "dave")
    assert p.stat()[0] == 3
    append(loft, "dave", [b"Subject: late\r\n\r\nlate\r\n"])
    assert p.stat()[0] == 3, "mail that arrives later waits for the next session"
    q = poplib.POP3_SSL("127.0.0.1", loft.port("pop3s"), context=tls_ctx(), timeout=10)
    q.user(addr("dave"))
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        q.pass_(PW)
    q.quit()
    p.quit()
    p = pop_ssl(loft, "dave")
    assert p.stat()[0] == 4
    p.quit()


def test_auth_plain(loft):
    p = poplib.POP3_SSL("127.0.0.1", loft.port("pop3s"), context=tls_ctx(), timeout=10)
    ir = base64.b64encode(b"\0" + addr("erin").encode() + b"\0" + PW.encode()).decode()
    assert p._shortcmd("AUTH PLAIN " + ir).startswith(b"+OK")
    assert p.stat()[0] == 3
    p.quit()
    p = poplib.POP3_SSL("127.0.0.1", loft.port("pop3s"), context=tls_ctx(), timeout=10)
    assert p._shortcmd("AUTH PLAIN").startswith(b"+")
    assert p._shortcmd(ir).startswith(b"+OK")
    p.quit()
    p = poplib.POP3_SSL("127.0.0.1", loft.port("pop3s"), context=tls_ctx(), timeout=10)
    bad = base64.b64encode(b"\0" + addr("erin").encode() + b"\0wrong").decode()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p._shortcmd("AUTH PLAIN " + bad)
    p.quit()


def raw_session(loft):
    s = socket.create_connection(("127.0.0.1", loft.port("pop3")), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    return s, f


def test_bad_input_gets_err_and_session_survives(loft):
    s, f = raw_session(loft)
    for bad in [b"A" * 5000 + b"\r\n", b"NO\0OP\r\n", b"\xff\xfe\xfd\r\n", b"\r\n",
                b"RETR 1\r\n", b"LIST 99999999999999999999999\r\n"]:
        s.sendall(bad)
        assert f.readline().startswith(b"-ERR"), bad[:20]
    s.sendall(b"CAPA\r\n")
    assert f.readline().startswith(b"+OK")
    while f.readline() != b".\r\n":
        pass
    # too many bad commands (6 so far): the fourth BOGUS closes it
    s.sendall(b"BOGUS\r\n" * 4)
    lines = f.readlines()
    assert len(lines) == 4 and b"too many bad commands" in lines[-1]
    s.close()
    # other sessions unaffected
    p = pop_ssl(loft, "grace")
    assert p.stat()[0] == 3
    p.quit()


def test_stls_discards_pipelined_plaintext(loft):
    s, f = raw_session(loft)
    s.sendall(b"STLS\r\nUSER " + addr("grace").encode() + b"\r\n")
    assert f.readline().startswith(b"+OK")
    t = tls_ctx().wrap_socket(s)
    t.sendall(b"PASS " + PW.encode() + b"\r\n")
    tf = t.makefile("rb")
    assert tf.readline().startswith(b"-ERR"), "USER sent before TLS must be forgotten"
    t.close()


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "20", "-k"] + list(args),
                          capture_output=True, timeout=30)


def test_curl_pop3_stls_and_pop3s(loft):
    user = "%s:%s" % (addr("frank"), PW)
    r = curl("--ssl-reqd", "-u", user, "pop3://127.0.0.1:%d/" % loft.port("pop3"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(b"\r\n")[:3] == [b"1 %d" % len(MSGS[0]), b"2 %d" % len(MSGS[1]),
                                            b"3 %d" % len(MSGS[2])]
    r = curl("--ssl-reqd", "-u", user, "pop3://127.0.0.1:%d/2" % loft.port("pop3"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == MSGS[1]
    r = curl("-u", user, "pop3s://127.0.0.1:%d/3" % loft.port("pop3s"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == MSGS[2]
    # without TLS the login is refused
    r = curl("-u", user, "pop3://127.0.0.1:%d/1" % loft.port("pop3"))
    assert r.returncode != 0


def test_tls_after_reload(loft):
    """SIGHUP makes loft-imapd load a new TLS context; POP3 must switch to
    it (the old one is freed) and keep serving STLS and pop3s."""
    before = loft.log().count("event=reload")
    os.kill(loft.proc.pid, signal.SIGHUP)
    assert loft.wait_log("event=reload", count=before + 2), "no reload logged"
    time.sleep(0.2)
    for _ in range(3):
        p = pop_ssl(loft, "grace")
        assert p.stat()[0] == 3
        p.quit()
        p = pop_tls(loft, "grace")
        assert p.stat()[0] == 3
        p.quit()
    assert loft.children().get("loft-imapd"), "loft-imapd died after reload"


INTL = ("From: J\u00f6rg <j@example.net>\r\nTo: heidi@example.org\r\n"
        "Subject: Gr\u00fc\u00dfe aus M\u00fcnchen\r\n\r\nHallo \u00e4\r\n").encode()


def retr_bytes(p, n):
    """RETR n with poplib: (octets announced, octets poplib read, message)."""
    resp, lines, octets = p.retr(n)
    announced = int(re.match(rb"\+OK (\d+) octets", resp).group(1))
    return announced, octets, b"".join(l + b"\r\n" for l in lines)


def test_utf8_capability_downgrade_and_sizes(loft):
    """RFC 6856: UTF8 in CAPA; without the UTF8 command a UTF-8 header is
    downgraded (RFC 6857) and STAT, LIST and RETR count the octets sent;
    after UTF8 (before login) the message comes as stored."""
    append(loft, "heidi", [INTL])
    p = pop_tls(loft, "heidi")
    assert "UTF8" in p.capa()
    count, total = p.stat()
    assert count == 4
    sizes = {int(a): int(b) for a, b in (l.split() for l in p.list()[1])}
    assert sum(sizes.values()) == total
    for n in range(1, 5):
        announced, got, msg = retr_bytes(p, n)
        assert announced == got == sizes[n] == len(msg), (n, announced, got, sizes[n])
        if n < 4:
            assert msg == MSGS[n - 1]
    head, _, body = msg.partition(b"\r\n\r\n")
    assert max(head) < 0x80, head
    assert b"Subject: =?UTF-8?" in head and b"<j@example.net>" in head
    assert body == "Hallo \u00e4\r\n".encode()
    assert sizes[4] != len(INTL)
    with pytest.raises(poplib.error_proto):
        p.utf8()  # only before login
    p.rset()
    p.quit()

    p = poplib.POP3("127.0.0.1", loft.port("pop3"), timeout=10)
    p.stls(tls_ctx())
    assert p.utf8().startswith(b"+OK")
    p.user(addr("heidi"))
    p.pass_(PW)
    assert p.list(4).split()[2] == str(len(INTL)).encode()
    announced, got, msg = retr_bytes(p, 4)
    assert msg == INTL and announced == got == len(INTL)
    p.rset()
    p.quit()


def test_sizes_count_crlf_as_retr_sends(loft):
    """RFC 1939: LIST and STAT give the octets RETR sends.  A message put in
    through IMAP APPEND without a last line end (imaplib makes its bare LFs
    CRLF) goes out with CRLF added; its size says so too."""
    bare = b"From: lf@example.net\nSubject: bare LF\n\nline one\nline two"
    append(loft, "ivan", [bare])
    p = pop_tls(loft, "ivan")
    count, total = p.stat()
    assert count == 4
    sizes = {int(a): int(b) for a, b in (l.split() for l in p.list()[1])}
    assert sum(sizes.values()) == total
    announced, got, msg = retr_bytes(p, 4)
    assert msg == bare.replace(b"\n", b"\r\n") + b"\r\n"
    assert announced == got == sizes[4] == len(msg) != len(bare)
    p.rset()
    p.quit()
