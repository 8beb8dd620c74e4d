"""loft-imapd against clients nobody here wrote: Python's imaplib (both TLS
modes), curl imap://, and raw sockets for hostile input.  Runs the real
loftd --dev with only loft-imapd enabled."""
import base64
import imaplib
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from loft_imap_helpers import PASS, USER, ImapRaw, ctx, imap_ssl, running_loft, tls_connect


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    yield from running_loft(tmp_path_factory.mktemp("imap"),
                            {USER: PASS, "b@example.org": "other"})


def imaps(loft, login=True):
    return imap_ssl(loft, login=login)


def msg(subject, body="hello", extra=""):
    return ("From: Bob <bob@example.com>\r\nTo: a@example.org\r\nSubject: %s\r\n"
            "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <%s@x>\r\n%s\r\n%s\r\n"
            % (subject, subject.replace(" ", "."), extra, body)).encode()


def esearch(m, *cmd):
    """Runs a SEARCH ... RETURN (...) command; returns its one ESEARCH
    response without the (TAG "...") correlator, which must name the
    command's tag."""
    m.untagged_responses.pop("ESEARCH", None)
    tag = m._command(*cmd)
    typ, _ = m._command_complete(cmd[0], tag)
    assert typ == "OK", cmd
    got = m.untagged_responses.pop("ESEARCH", [])
    assert len(got) == 1, (cmd, got)
    corr = b'(TAG "' + tag + b'")'
    assert got[0].startswith(corr), got[0]
    return got[0][len(corr):].strip()


class Raw(ImapRaw):
    """A TLS socket speaking IMAP by hand, for what imaplib will not send."""

    def __init__(self, loft, login=True):
        super().__init__(tls_connect(loft.port("imaps")), login)


def test_plain_port_requires_starttls(loft):
    m = imaplib.IMAP4("127.0.0.1", loft.port("imap"))
    assert "LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        m.login(USER, PASS)
    m.starttls(ssl_context=ctx())
    assert "AUTH=PLAIN" in m.capabilities
    assert m.login(USER, PASS)[0] == "OK"
    m.logout()


def test_starttls_discards_pipelined_plaintext(loft):
    s = socket.create_connection(("127.0.0.1", loft.port("imap")))
    s.settimeout(10)
    s.recv(4096)
    s.sendall(b"a STARTTLS\r\nb LOGIN a@example.org x\r\n")
    time.sleep(0.3)
    data = s.recv(4096)
    assert data.startswith(b"a OK") and b"b " not in data
    t = ctx().wrap_socket(s)
    t.sendall(b"c NOOP\r\n")
    assert t.recv(4096).startswith(b"c OK")
    t.close()


def test_authenticate_plain_and_failures(loft):
    m = imaps(loft, login=False)
    assert m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (USER, PASS)).encode())[0] == "OK"
    m.logout()
    r = Raw(loft, login=False)
    ir = base64.b64encode(("\0%s\0%s" % (USER, PASS)).encode())
    assert r.cmd(b"x AUTHENTICATE PLAIN " + ir)[-1].startswith(b"x OK")
    r.close()
    r = Raw(loft, login=False)
    out = r.cmd(b"y LOGIN a@example.org wrong")
    assert out[-1].startswith(b"y NO [AUTHENTICATIONFAILED]")
    assert r.cmd(b"z SELECT INBOX")[-1].startswith(b"z BAD")
    r.close()
    assert "password=********" in loft.log() and "wrong" not in loft.log()


def test_mailboxes_list_status_utf7(loft):
    m = imaps(loft)
    typ, data = m.list('""', "*")
    names = b"\n".join(data)
    for special in (b"\\Sent", b"\\Drafts", b"\\Junk", b"\\Trash", b"\\Archive"):
        assert special in names
    name = "Entw&APw-rfe"  # "Entwürfe" in modified UTF-7
    assert m.create(name)[0] == "OK"
    assert m.create(name)[0] == "NO"
    assert m.create("Projects/2024")[0] == "OK"
    typ, data = m.list('""', "Projects/%")
    assert typ == "OK" and b"Projects/2024" in data[0]
    typ, data = m.list('""', "*")
    assert any(b'"Entw&APw-rfe"' in d for d in data)
    assert m.rename("Projects/2024", "Projects/2025")[0] == "OK"
    assert m.subscribe(name)[0] == "OK"
    typ, data = m.lsub('""', "*")
    assert any(b"Entw&APw-rfe" in d for d in data)
    typ, data = m.status(name, "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)")
    assert typ == "OK" and b"MESSAGES 0" in data[0]
    # bad modified UTF-7 and 8-bit names are refused
    for bad in ("&Jjo", "&AGE-", "bad&-&", "\u00e9t\u00e9"):
        try:
            typ, _ = m.create(bad)
        except (imaplib.IMAP4.error, UnicodeEncodeError):
            typ = "NO"
        assert typ != "OK", bad
    assert m.delete(name)[0] == "OK"
    m.untagged_responses.pop("STATUS", None)
    typ, data = m._simple_command("LIST", "()", '""', "*", "RETURN", "(SPECIAL-USE STATUS (MESSAGES UNSEEN))")
    assert typ == "OK"
    # RFC 5819: a STATUS response for each listed mailbox, with what was asked
    listed = m.untagged_responses.pop("LIST", [])
    statuses = m.untagged_responses.pop("STATUS", [])
    # ... except those that cannot be selected (\NonExistent "Projects")
    selectable = [l for l in listed if not re.search(rb"\\(NonExistent|Noselect)", l, re.I)]
    assert len(selectable) < len(listed), listed
    assert len(statuses) == len(selectable), (listed, statuses)
    assert any(st.startswith((b"INBOX ", b'"INBOX" ')) for st in statuses), statuses
    for st in statuses:
        assert re.search(rb"\(MESSAGES \d+ UNSEEN \d+\)$", st), st
    m.logout()


def test_append_fetch_store_search(loft):
    m = imaps(loft)
    m.create("T1")
    typ, data = m.append("T1", r"(\Flagged $Work)", None, msg("first zebra", "alpha beta"))
    assert typ == "OK" and b"APPENDUID" in data[0]
    mp = (b"From: c@example.com\r\nSubject: multi\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
          b"Content-Type: text/plain\r\n\r\npart one text\r\n--XX\r\n"
          b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
          + base64.b64encode(b"\x00\x01binary") + b"\r\n--XX--\r\n")
    m.append("T1", None, imaplib.Time2Internaldate(time.time() - 86400 * 3), mp)
    typ, data = m.select("T1")
    assert data == [b"2"]
    typ, data = m.fetch("1:*", "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE INTERNALDATE)")
    assert typ == "OK" and b"ENVELOPE" in data[0] and b"BODYSTRUCTURE" in data[1]
    typ, data = m.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[2] BINARY.SIZE[2])")
    flat = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
    assert b"part one text" in flat and b"\x00\x01binary" in flat and b"BINARY.SIZE[2] 8" in flat
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT]<2.3> BODY.PEEK[HEADER.FIELDS.NOT (From To Date Message-ID)])")
    assert data[0][1] == b"pha" and data[1][1].startswith(b"Subject: first zebra")
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    m.fetch("1", "(BODY[HEADER])")
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0] and b"$Work" in data[0]
    typ, data = m.fetch("1", "(RFC822.HEADER RFC822.TEXT)")
    assert typ == "OK"
    # STORE forms
    assert b"\\Answered" in m.store("1", "+FLAGS", r"(\Answered)")[1][0]
    assert b"\\Answered" not in m.store("1", "-FLAGS", r"(\Answered)")[1][0]
    assert m.store("1", "FLAGS.SILENT", r"(\Seen \Draft)") == ("OK", [None])
    typ, data = m.uid("STORE", "1:*", "+FLAGS", "(Custom)")
    assert typ == "OK"
    # SEARCH keys
    assert m.search(None, "TEXT", "zebra")[1] == [b"1"]
    assert m.search(None, "BODY", '"part one"')[1] == [b"2"]
    assert m.search(None, "SUBJECT", "multi")[1] == [b"2"]
    assert m.search(None, "FROM", "bob", "DRAFT")[1] == [b"1"]
    # FLAGS.SILENT above replaced $Work; Custom is on both
    assert m.search(None, "OR", "SUBJECT", "multi", "KEYWORD", "$Work")[1] == [b"2"]
    assert m.search(None, "KEYWORD", "Custom")[1] == [b"1 2"]
    assert m.search(None, "NOT", "KEYWORD", "Custom")[1] == [b""]
    assert m.search(None, "SENTON", "1-Jul-2003")[1] == [b"1"]
    assert m.search(None, "BEFORE", "1-Jan-2000")[1] == [b""]
    assert m.search(None, "LARGER", "200", "SMALLER", "100000")[1] == [b"2"]
    assert m.search(None, "HEADER", "Message-ID", "first.zebra")[1] == [b"1"]
    assert m.search("UTF-8", "UID", "1:*")[1] == [b"1 2"]
    # only message 1 was read (FETCH BODY[HEADER]); 2 was only peeked at
    assert m.search(None, "(SEEN UNDELETED)")[1] == [b"1"]
    assert m.search(None, "(SEEN UNDELETED)", "2:*")[1] == [b""]
    assert m.search(None, "UNSEEN")[1] == [b"2"]
    # ESEARCH (RFC 4731): the answers, not just an OK
    assert esearch(m, "UID", "SEARCH", "RETURN", "(MIN MAX COUNT)", "ALL") == \
        b"UID MIN 1 MAX 2 COUNT 2"
    assert esearch(m, "SEARCH", "RETURN", "(COUNT)", "KEYWORD", "Custom") == b"COUNT 2"
    assert esearch(m, "SEARCH", "RETURN", "(ALL)", "1:2") == b"ALL 1:2"
    assert esearch(m, "SEARCH", "RETURN", "(MIN COUNT)", "UNSEEN") == b"MIN 2 COUNT 1"
    # nothing matches: COUNT 0 and no MIN/MAX/ALL (RFC 4731 3.1)
    assert esearch(m, "UID", "SEARCH", "RETURN", "(MIN MAX ALL COUNT)", "DELETED") == \
        b"UID COUNT 0"
    # RETURN () is ALL
    assert esearch(m, "SEARCH", "RETURN", "()", "SEEN") == b"ALL 1"
    # COPY / MOVE / EXPUNGE with UIDPLUS codes
    m.create("T2")
    typ, data = m.copy("1", "T2")
    assert typ == "OK" and b"COPYUID" in data[0]
    typ, data = m._simple_command("MOVE", "2", "T2")
    assert typ == "OK"
    typ, data = m.select("T1")
    assert data == [b"1"]
    typ, data = m.copy("1", "NoSuchBox")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    m.store("1", "+FLAGS", r"(\Deleted)")
    assert m.expunge()[1] == [b"1"]
    assert m.status("T2", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 2)")
    m.close()
    m.logout()


def test_big_append_and_partial_fetch(loft):
    m = imaps(loft)
    m.create("Big")
    body = ("x" * 998 + "\r\n") * 20000  # ~20 MB
    data = msg("big one", body)
    assert len(data) > 20_000_000
    t0 = time.time()
    assert m.append("Big", None, None, data)[0] == "OK"
    m.select("Big", readonly=True)
    typ, d = m.fetch("1", "(RFC822.SIZE BODY.PEEK[]<1000000.100>)")
    assert str(len(data)).encode() in d[0][0] and len(d[0][1]) == 100
    typ, d = m.fetch("1", "(BODY.PEEK[])")
    assert d[0][1] == data
    assert m.store("1", "+FLAGS", r"(\Seen)")[0] == "NO"  # read-only
    m.logout()
    print("20 MB append+fetch %.2fs" % (time.time() - t0))


def test_idle_push_and_multi_session(loft):
    a = imaps(loft)
    a.create("Shared")
    a.select("Shared")
    r = Raw(loft)
    assert r.cmd(b"s SELECT Shared")[-1].startswith(b"s OK")
    r.send(b"i IDLE\r\n")
    assert r.line().startswith(b"+")
    t0 = time.time()
    a.append("Shared", None, None, msg("pushed"))
    l = r.line()
    assert l == b"* 1 EXISTS", l
    assert time.time() - t0 < 1.0
    # a flag change in one session shows up in the other
    a.select("Shared")
    a.store("1", "+FLAGS", r"(\Flagged)")
    while True:
        l = r.line()
        if b"FETCH" in l:
            assert b"\\Flagged" in l
            break
    a.store("1", "+FLAGS", r"(\Deleted)")
    a.expunge()
    seen = []
    while True:
        l = r.line()
        seen.append(l)
        if l == b"* 1 EXPUNGE":
            break
    r.send(b"DONE\r\n")
    assert r.until_tag(b"i")[-1].startswith(b"i OK")
    r.close()
    a.logout()


def test_condstore_qresync(loft):
    a = imaps(loft)
    a.create("Q")
    for i in range(3):
        a.append("Q", None, None, msg("q%d" % i))
    r = Raw(loft)
    assert r.cmd(b"e ENABLE QRESYNC")[0].startswith(b"* ENABLED")
    out = r.cmd(b"s SELECT Q (CONDSTORE)")
    hms = [l for l in out if b"HIGHESTMODSEQ" in l][0]
    modseq = int(hms.split(b"HIGHESTMODSEQ ")[1].split(b"]")[0])
    uidv = int([l for l in out if b"UIDVALIDITY" in l][0].split(b"UIDVALIDITY ")[1].split(b"]")[0])
    r.cmd(b"u UNSELECT")
    a.select("Q")
    a.store("2", "+FLAGS", r"(\Seen)")
    a.store("3", "+FLAGS", r"(\Deleted)")
    a.expunge()
    out = r.cmd(b"s2 SELECT Q (QRESYNC (%d %d 1:3))" % (uidv, modseq))
    assert any(l.startswith(b"* VANISHED (EARLIER) 3") for l in out), out
    assert any(b"UID 2" in l and b"\\Seen" in l and b"MODSEQ" in l for l in out), out
    out = r.cmd(b"f UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % modseq)
    assert len([l for l in out if l.startswith(b"* ") and b"FETCH" in l]) == 1
    out = r.cmd(b"t UID STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Flagged)")
    assert b"MODIFIED" in out[-1]
    r.close()
    a.logout()


def test_phone_style_session(loft):
    r = Raw(loft, login=False)
    assert r.cmd(b"1 CAPABILITY")[-1].startswith(b"1 OK")
    assert r.cmd(b'2 ID ("name" "iPhone Mail")')[0].startswith(b"* ID")
    ir = base64.b64encode(("\0%s\0%s" % (USER, PASS)).encode())
    assert r.cmd(b"3 AUTHENTICATE PLAIN " + ir)[-1].startswith(b"3 OK")
    out = r.cmd(b'4 LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN UIDNEXT))')
    assert any(b"\\Sent" in l for l in out) and any(l.startswith(b"* STATUS") for l in out)
    assert r.cmd(b"5 NAMESPACE")[0].startswith(b"* NAMESPACE")
    assert r.cmd(b"6 SELECT INBOX (CONDSTORE)")[-1].startswith(b"6 OK [READ-WRITE]")
    assert r.cmd(b"7 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)")[-1].startswith(b"7 OK")
    r.close()


def test_bad_input(loft):
    good = Raw(loft)
    good.cmd(b"s SELECT INBOX")
    r = Raw(loft)
    assert r.cmd(b"a1 SEARCH (ALL")[-1].startswith(b"a1 BAD")
    assert r.cmd(b"a2 NOOP)")[-1].startswith(b"a2 BAD")
    r.send(b"a3 LOGIN {4294967296}\r\n")
    assert r.line().startswith(b"a3 BAD")
    assert r.cmd(b"a4 SEARCH " + b"(" * 10000 + b"ALL" + b")" * 10000)[-1].startswith(b"a4 BAD")
    assert r.cmd(b"a5 SELECT IN\x00BOX")[-1].startswith(b"a5 BAD")
    assert r.cmd(b"a6 FETCH 1 FLAGS")[-1].startswith(b"a6 BAD")  # no mailbox
    assert r.cmd(b"a7 LOGIN x y")[-1].startswith(b"a7 BAD")  # already logged in
    assert r.cmd(b"a8 CREATE &Jjo")[-1].startswith(b"a8 NO")
    assert r.cmd(b"a9 FROB")[-1].startswith(b"a9 BAD")
    assert r.cmd(b"b1 SELECT INBOX")[-1].startswith(b"b1 OK")
    assert r.cmd(b"b2 FETCH 99999 FLAGS")[-1].startswith(b"b2 BAD")
    assert r.cmd(b"b3 FETCH 1:* (BODY[HEADER.FIELDS ()])")[-1].startswith(b"b3 BAD")
    assert r.cmd(b"b4 STORE 1:* +FLAGS (\\Bogus)")[-1].startswith(b"b4 BAD")
    assert r.cmd(b"b5 SEARCH BEFORE 31-Feb-2020")[-1].startswith(b"b5 BAD")
    assert r.cmd(b"b6 NOOP " + b"x" * 70000)[-1].startswith(b"b6 BAD")
    r.send(b"b7 APPEND INBOX {99999999999+}\r\n")
    assert r.line().startswith(b"* BYE")
    r.close()
    # the other session never noticed
    assert good.cmd(b"n NOOP")[-1].startswith(b"n OK")
    good.close()


def test_curl_imaps(loft):
    m = imaps(loft)
    m.create("Curl")
    m.append("Curl", None, None, msg("for curl", "curl body text"))
    m.logout()
    url = "imaps://127.0.0.1:%d/Curl;UID=1" % loft.port("imaps")
    p = subprocess.run(["curl", "-sk", "--user", "%s:%s" % (USER, PASS), url],
                       capture_output=True, timeout=30)
    assert p.returncode == 0 and b"curl body text" in p.stdout, p.stderr
    url = "imap://127.0.0.1:%d/Curl;UID=1" % loft.port("imap")
    p = subprocess.run(["curl", "-sk", "--ssl-reqd", "--user", "%s:%s" % (USER, PASS), url],
                       capture_output=True, timeout=30)
    assert p.returncode == 0 and b"curl body text" in p.stdout, p.stderr
