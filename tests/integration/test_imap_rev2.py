"""Issue 9: IMAP4rev2 (RFC 9051) beside IMAP4rev1, switched on per session
by ENABLE IMAP4rev2.  A test per change from IMAP4rev1 that a session
sees: no \\Recent and no RECENT, SEARCH answered by ESEARCH, SELECT's LIST
response and no UNSEEN, OK [CLOSED], STATUS DELETED, UTF-8 mailbox names;
and that an IMAP4rev1 session next to it keeps the rev1 answers.  Real
loftd --dev with loft-imapd; clients are imaplib and raw sockets (also fed
one byte per TLS record)."""
import imaplib
import re

import pytest

from loft_imap_helpers import PASS, USER, ImapRaw, imap_ssl, running_loft, tls_connect


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    yield from running_loft(tmp_path_factory.mktemp("imaprev2"), {USER: PASS})


class Raw(ImapRaw):
    def __init__(self, loft, login=True, rev2=False):
        super().__init__(tls_connect(loft.port("imaps")), login)
        if rev2:
            out = self.cmd(b"e ENABLE IMAP4rev2")
            assert out == [b"* ENABLED IMAP4rev2", b"e OK ENABLE completed"], out


def msg(subject, body="hello\r\n"):
    return ("From: a@example.org\r\nSubject: %s\r\n\r\n%s" % (subject, body)).encode()


def lit(b):
    return b"{%d+}\r\n" % len(b) + b


def fill(raw, name, n):
    assert raw.cmd(b"c CREATE " + name)[-1].startswith(b"c OK")
    for i in range(n):
        out = raw.cmd(b"a APPEND " + name + b" " + lit(msg("m%d" % i)))
        assert out[-1].startswith(b"a OK"), out


def caps_of(line):
    m = re.search(rb"CAPABILITY ([^\]]*)", line)
    return m.group(1).split()


def test_capabilities(loft):
    """IMAP4rev2 beside IMAP4rev1 before and after login; LITERAL+ and not
    LITERAL- (RFC 7888: never both; LITERAL+ is the larger one)."""
    s = tls_connect(loft.port("imaps"))
    r = ImapRaw(s, login=False)
    pre = caps_of(r.cmd(b"c CAPABILITY")[0])
    assert b"IMAP4rev1" in pre and b"IMAP4rev2" in pre, pre
    assert b"LITERAL+" in pre and b"LITERAL-" not in pre, pre
    assert r.cmd(b"l LOGIN " + USER.encode() + b' "' + PASS.encode() + b'"')[-1].startswith(
        b"l OK")
    post = caps_of(r.cmd(b"c CAPABILITY")[0])
    for want in (b"IMAP4rev1", b"IMAP4rev2", b"ENABLE", b"LITERAL+", b"ESEARCH", b"SEARCHRES",
                 b"UNSELECT", b"MOVE", b"UIDPLUS", b"NAMESPACE", b"IDLE", b"SPECIAL-USE",
                 b"LIST-EXTENDED", b"LIST-STATUS", b"BINARY", b"STATUS=SIZE", b"SASL-IR",
                 b"CHILDREN", b"ID"):
        assert want in post, (want, post)
    assert b"LITERAL-" not in post
    r.close()


def test_enable_imaplib(loft):
    """imaplib's enable(): ENABLED names IMAP4rev2; a second ENABLE names
    nothing new."""
    m = imap_ssl(loft)
    typ, data = m.enable("IMAP4rev2")
    assert typ == "OK", data
    assert m.untagged_responses.pop("ENABLED") == [b"IMAP4rev2"]
    typ, data = m.enable("IMAP4rev2")
    assert typ == "OK" and m.untagged_responses.pop("ENABLED") == [b""], m.untagged_responses
    m.logout()


def test_enable_needs_login(loft):
    r = Raw(loft, login=False)
    assert r.cmd(b"e ENABLE IMAP4rev2")[-1].startswith(b"e BAD")
    r.close()


def test_select_no_recent_list_response(loft):
    """SELECT in rev2: EXISTS, a LIST of the mailbox, no RECENT and no
    UNSEEN (RFC 9051 6.3.2); the rev2 session claims no \\Recent, so an
    IMAP4rev1 session still sees the new messages as recent."""
    r = Raw(loft, rev2=True)
    fill(r, b"RevSel", 3)
    out = r.cmd(b"s SELECT RevSel")
    assert out[-1].startswith(b"s OK [READ-WRITE]"), out
    assert b"* 3 EXISTS" in out
    assert b'* LIST (\\HasNoChildren) "/" "RevSel"' in out, out
    assert not any(b"RECENT" in l or b"UNSEEN" in l for l in out), out
    out = r.cmd(b"f FETCH 1:* FLAGS")
    assert len(out) == 4 and not any(b"\\Recent" in l for l in out), out
    # SEARCH RECENT/NEW find nothing, OLD everything: no message is recent
    assert r.cmd(b"s SEARCH RECENT")[0] == b'* ESEARCH (TAG "s")'
    assert r.cmd(b"s SEARCH NEW")[0] == b'* ESEARCH (TAG "s")'
    assert r.cmd(b"s SEARCH OLD")[0] == b'* ESEARCH (TAG "s") ALL 1:3'
    r.close()
    r1 = Raw(loft)
    out = r1.cmd(b"s SELECT RevSel")
    assert b"* 3 RECENT" in out, out
    assert not any(l.startswith(b"* LIST") for l in out), out
    r1.close()


def test_new_mail_no_recent(loft):
    """Mail arriving while a rev2 session has the mailbox selected: EXISTS
    alone; a rev1 session is told RECENT as before (both messages: the
    rev2 session claimed neither)."""
    r2 = Raw(loft, rev2=True)
    fill(r2, b"RevNew", 1)
    r1 = Raw(loft)
    assert r2.cmd(b"s SELECT RevNew")[-1].startswith(b"s OK")
    assert r1.cmd(b"s SELECT RevNew")[-1].startswith(b"s OK")
    other = Raw(loft)
    assert other.cmd(b"a APPEND RevNew " + lit(msg("new")))[-1].startswith(b"a OK")
    other.close()
    out2 = r2.cmd(b"n NOOP")
    assert b"* 2 EXISTS" in out2 and not any(b"RECENT" in l for l in out2), out2
    out1 = r1.cmd(b"n NOOP")
    assert b"* 2 EXISTS" in out1 and b"* 2 RECENT" in out1, out1
    r1.close()
    r2.close()


def test_search_answers_esearch(loft):
    """rev2: SEARCH and UID SEARCH answer ESEARCH (no RETURN means ALL), an
    empty result is the bare ESEARCH; RETURN options work as before; the
    rev1 session keeps * SEARCH."""
    r = Raw(loft, rev2=True)
    fill(r, b"RevSearch", 4)
    assert r.cmd(b"s SELECT RevSearch")[-1].startswith(b"s OK")
    assert r.cmd(b"st STORE 2,4 +FLAGS (\\Flagged)")[-1].startswith(b"st OK")
    out = r.cmd(b"a SEARCH ALL")
    assert out == [b'* ESEARCH (TAG "a") ALL 1:4', b"a OK SEARCH completed"], out
    out = r.cmd(b"b UID SEARCH FLAGGED")
    uids = [int(x) for x in r.cmd(b"f UID SEARCH RETURN (MIN MAX) FLAGGED")[0].split()[-3::2]]
    assert out[0] == b'* ESEARCH (TAG "b") UID ALL %d,%d' % (uids[0], uids[1]), out
    out = r.cmd(b"c SEARCH SUBJECT nosuchsubject")
    assert out == [b'* ESEARCH (TAG "c")', b"c OK SEARCH completed"], out
    out = r.cmd(b"d SEARCH RETURN (COUNT) ALL")
    assert out[0] == b'* ESEARCH (TAG "d") COUNT 4', out
    out = r.cmd(b'e SEARCH CHARSET UTF-8 SUBJECT "m2"')
    assert out[0] == b'* ESEARCH (TAG "e") ALL 3', out
    # SEARCHRES: $ is still the saved result
    assert r.cmd(b"g SEARCH RETURN (SAVE) FLAGGED")[-1].startswith(b"g OK")
    assert r.cmd(b"h SEARCH $")[0] == b'* ESEARCH (TAG "h") ALL 2,4'
    assert not any(l.startswith(b"* SEARCH") for l in out)
    r.close()
    m = imap_ssl(loft)
    m.select("RevSearch")
    typ, data = m.search(None, "ALL")
    assert typ == "OK" and data == [b"1 2 3 4"], data
    m.logout()


def test_closed_on_reselect(loft):
    """rev2: SELECT while a mailbox is selected says OK [CLOSED] before the
    new mailbox's responses (RFC 9051 7.1), without CONDSTORE."""
    r = Raw(loft, rev2=True)
    fill(r, b"RevClosed", 1)
    assert r.cmd(b"s SELECT INBOX")[-1].startswith(b"s OK")
    out = r.cmd(b"t EXAMINE RevClosed")
    assert out[0].startswith(b"* OK [CLOSED]"), out
    assert out[-1].startswith(b"t OK [READ-ONLY]"), out
    r.close()
    r1 = Raw(loft)
    assert r1.cmd(b"s SELECT INBOX")[-1].startswith(b"s OK")
    out = r1.cmd(b"t SELECT RevClosed")
    assert not any(b"[CLOSED]" in l for l in out), out
    r1.close()


def test_status_deleted_and_recent(loft):
    """STATUS DELETED counts \\Deleted messages (both modes); STATUS RECENT
    is not IMAP4rev2 (BAD there), still answered in rev1."""
    r = Raw(loft, rev2=True)
    fill(r, b"RevStatus", 3)
    assert r.cmd(b"s SELECT RevStatus")[-1].startswith(b"s OK")
    assert r.cmd(b"st STORE 1,3 +FLAGS (\\Deleted)")[-1].startswith(b"st OK")
    assert r.cmd(b"u UNSELECT")[-1].startswith(b"u OK")
    out = r.cmd(b"t STATUS RevStatus (MESSAGES DELETED SIZE)")
    assert re.match(rb'\* STATUS "RevStatus" \(MESSAGES 3 DELETED 2 SIZE \d+\)$', out[0]), out
    assert r.cmd(b"t STATUS RevStatus (RECENT)")[-1].startswith(b"t BAD")
    r.close()
    r1 = Raw(loft)
    out = r1.cmd(b"t STATUS RevStatus (DELETED RECENT)")
    assert re.match(rb'\* STATUS RevStatus|\* STATUS "RevStatus" \(DELETED 2 RECENT \d+\)$',
                    out[0]), out
    assert out[-1].startswith(b"t OK"), out
    r1.close()


def test_utf8_mailbox_names(loft):
    """rev2 names mailboxes in UTF-8 (RFC 9051 5.1): CREATE/LIST/SELECT/
    STATUS/RENAME take and give UTF-8, "&" is itself; an IMAP4rev1 session
    sees the same mailboxes in modified UTF-7."""
    r = Raw(loft, rev2=True)
    name = "Entwürfe".encode()
    assert r.cmd(b'c CREATE "' + name + b'"')[-1].startswith(b"c OK")
    assert r.cmd(b'c CREATE "R&D"')[-1].startswith(b"c OK")
    out = r.cmd(b'l LIST "" "Entw*"')
    assert out[0] == b'* LIST (\\HasNoChildren) "/" "' + name + b'"', out
    out = r.cmd(b'l LIST "" "R&*"')
    assert out[0] == b'* LIST (\\HasNoChildren) "/" "R&D"', out
    out = r.cmd(b'e EXAMINE "' + name + b'"')
    assert out[-1].startswith(b"e OK"), out
    assert b'* LIST (\\HasNoChildren) "/" "' + name + b'"' in out, out
    out = r.cmd(b'st STATUS "' + name + b'" (MESSAGES)')
    assert out[0] == b'* STATUS "' + name + b'" (MESSAGES 0)', out
    assert r.cmd(b'r RENAME "R&D" "Forschung&Entwicklung"')[-1].startswith(b"r OK")
    # a modified UTF-7 spelling is just another name now
    assert r.cmd(b'e EXAMINE "Entw&APw-rfe"')[-1].startswith(b"e NO")
    r.close()
    r1 = Raw(loft)
    out = r1.cmd(b'l LIST "" "Entw*"')
    assert out[0] == b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"', out
    out = r1.cmd(b'l LIST "" "Forschung*"')
    assert out[0] == b'* LIST (\\HasNoChildren) "/" "Forschung&-Entwicklung"', out
    r1.close()


def test_rev2_session_byte_by_byte(loft):
    """The same rev2 session as a script, every byte its own TLS record:
    ENABLE, CREATE, APPEND (LITERAL+), SELECT, SEARCH, STATUS, LOGOUT."""
    r = Raw(loft)
    name = "Bytewise-ä".encode()
    script = (b"e ENABLE IMAP4rev2\r\n"
              b'c CREATE "' + name + b'"\r\n'
              b'a APPEND "' + name + b'" ' + lit(msg("byte")) + b"\r\n"
              b's SELECT "' + name + b'"\r\n'
              b"f SEARCH SUBJECT byte\r\n"
              b"u UNSELECT\r\n"
              b'x STATUS "' + name + b'" (MESSAGES DELETED)\r\n'
              b"z LOGOUT\r\n")
    for i in range(len(script)):
        r.send(script[i:i + 1])
    out = []
    try:
        while True:
            out.append(r.line())
    except EOFError:
        pass
    r.close()
    assert b"* ENABLED IMAP4rev2" in out, out
    for t in (b"e", b"c", b"a", b"s", b"f", b"u", b"x", b"z"):
        assert any(l.startswith(t + b" OK") for l in out), (t, out)
    assert b'* LIST (\\HasNoChildren) "/" "' + name + b'"' in out, out
    assert b'* ESEARCH (TAG "f") ALL 1' in out, out
    assert b'* STATUS "' + name + b'" (MESSAGES 1 DELETED 0)' in out, out
    assert not any(b"RECENT" in l for l in out), out


def test_bad_input_rev2(loft):
    """Bad ENABLE arguments and names that are not UTF-8 in rev2: BAD or NO,
    the session goes on."""
    r = Raw(loft, rev2=True)
    assert r.cmd(b"e ENABLE")[-1].startswith(b"e BAD")
    assert r.cmd(b'e ENABLE "IMAP4rev2"')[-1].startswith(b"e BAD")
    out = r.cmd(b"e ENABLE NOSUCHEXT")
    assert out == [b"* ENABLED", b"e OK ENABLE completed"], out
    # not UTF-8 (a lone continuation byte) -> no mailbox of that name
    assert r.cmd(b"c CREATE {3+}\r\na\x80b")[-1].startswith(b"c NO")
    assert r.cmd(b"n NOOP")[-1].startswith(b"n OK")
    r.close()
