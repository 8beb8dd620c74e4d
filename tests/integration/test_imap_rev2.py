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


def test_enable_while_selected_forgets_recent(loft):
    """ENABLE IMAP4rev2 with a mailbox selected (RFC 5161 lets a server
    take it): the \\Recent the rev1 view held is gone from FETCH and
    SEARCH at once."""
    r = Raw(loft)
    fill(r, b"RevLate", 2)
    out = r.cmd(b"s SELECT RevLate")
    assert b"* 2 RECENT" in out, out
    out = r.cmd(b"f FETCH 1 FLAGS")
    assert out[0] == b"* 1 FETCH (FLAGS (\\Recent))", out
    assert r.cmd(b"e ENABLE IMAP4rev2")[0] == b"* ENABLED IMAP4rev2"
    out = r.cmd(b"f FETCH 1:* FLAGS")
    assert out[:2] == [b"* 1 FETCH (FLAGS ())", b"* 2 FETCH (FLAGS ())"], out
    assert r.cmd(b"s SEARCH RECENT")[0] == b'* ESEARCH (TAG "s")'
    r.close()


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


def mutf7(name):
    """RFC 3501 5.1.3 modified UTF-7 of a str, as a rev1 client sends it."""
    import base64
    out, run = [], ""

    def flush():
        if run:
            b = base64.b64encode(run.encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")
            out.append(b"&" + b + b"-")
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            run = ""
            out.append(b"&-" if ch == "&" else ch.encode())
        else:
            run += ch
    flush()
    return b"".join(out)


def test_mailbox_names_nfc(loft):
    """Mailbox names are NFC-normalised (RFC 9051 5.1, RFC 5198): a name
    with a decomposed "u" + U+0308 and the precomposed U+00FC are the same
    mailbox, for CREATE, SELECT, STATUS, APPEND, RENAME and LIST patterns,
    in UTF-8 (rev2) and in modified UTF-7 (rev1); LIST shows the NFC form."""
    composed = "Gr\u00fc\u00dfe/K\u00f6ln".encode()
    decomposed = "Gru\u0308\u00dfe/Ko\u0308ln".encode()
    assert composed != decomposed
    r = Raw(loft, rev2=True)
    assert r.cmd(b'c CREATE "' + decomposed + b'"')[-1].startswith(b"c OK")
    out = r.cmd(b'c2 CREATE "' + composed + b'"')
    assert out[-1].startswith(b"c2 NO [ALREADYEXISTS]"), out
    out = r.cmd(b'l LIST "" "Gr*"')
    assert b'* LIST (\\HasNoChildren) "/" "' + composed + b'"' in out, out
    assert not any(decomposed in l for l in out), out
    out = r.cmd(b'l2 LIST "" "' + decomposed[:5] + b'*"')
    assert b'* LIST (\\HasNoChildren) "/" "' + composed + b'"' in out, out
    out = r.cmd(b'a APPEND "' + decomposed + b'" ' + lit(msg("nfc")))
    assert out[-1].startswith(b"a OK"), out
    out = r.cmd(b'st STATUS "' + composed + b'" (MESSAGES)')
    assert out[0] == b'* STATUS "' + composed + b'" (MESSAGES 1)', out
    assert r.cmd(b'e EXAMINE "' + composed + b'"')[-1].startswith(b"e OK")
    r.close()
    # rev1: the decomposed name in modified UTF-7 finds the same mailbox
    r1 = Raw(loft)
    out = r1.cmd(b"st STATUS " + mutf7("Gru\u0308\u00dfe/Ko\u0308ln") + b" (MESSAGES)")
    assert out[0] == b'* STATUS "' + mutf7("Gr\u00fc\u00dfe/K\u00f6ln") + b'" (MESSAGES 1)', out
    out = r1.cmd(b"r RENAME " + mutf7("Gru\u0308\u00dfe/Ko\u0308ln") + b" " +
                 mutf7("Gru\u0308\u00dfe/Mu\u0308nchen"))
    assert out[-1].startswith(b"r OK"), out
    out = r1.cmd(b'l LIST "" "Gr*/*"')
    want = b'* LIST (\\HasNoChildren) "/" "' + mutf7("Gr\u00fc\u00dfe/M\u00fcnchen") + b'"'
    assert out[0] == want, out
    r1.close()
    m = imap_ssl(loft)
    m.enable("UTF8=ACCEPT")
    assert m.select('"' + "Gru\u0308\u00dfe/Mu\u0308nchen" + '"')[0] == "OK"
    m.logout()


def test_oldname(loft):
    """OLDNAME (RFC 9051 6.3.4, 7.3.1): when the server changes the name a
    rev2 client gave (NFC, a trailing delimiter), CREATE, RENAME and SELECT
    answer a LIST of the name it made, with the client's spelling as
    OLDNAME; a name kept as given gets none, nor does a rev1 session."""
    composed = "Sch\u00f6n".encode()
    decomposed = "Scho\u0308n".encode()
    r = Raw(loft, rev2=True)
    out = r.cmd(b'c CREATE "' + decomposed + b'"')
    assert out[0] == (b'* LIST (\\HasNoChildren) "/" "' + composed +
                      b'" ("OLDNAME" ("' + decomposed + b'"))'), out
    assert out[-1].startswith(b"c OK"), out
    out = r.cmd(b'c CREATE "Plain/"')
    assert out[0] == b'* LIST (\\HasNoChildren) "/" "Plain" ("OLDNAME" ("Plain/"))', out
    out = r.cmd(b'c CREATE "Kept"')
    assert len(out) == 1 and out[0].startswith(b"c OK"), out
    out = r.cmd(b'e EXAMINE "' + decomposed + b'"')
    assert (b'* LIST (\\HasNoChildren) "/" "' + composed + b'" ("OLDNAME" ("' + decomposed +
            b'"))') in out, out
    out = r.cmd(b'e EXAMINE "' + composed + b'"')
    assert b'* LIST (\\HasNoChildren) "/" "' + composed + b'"' in out, out
    out = r.cmd(b'r RENAME "Kept" "Gepru\xcc\x88ft"')
    assert out[0] == ('* LIST (\\HasNoChildren) "/" "Gepr\u00fcft" ("OLDNAME" ("Gepru\u0308ft"))'
                      .encode()), out
    assert out[-1].startswith(b"r OK"), out
    out = r.cmd(b'r RENAME "Plain" "Plainer"')
    assert len(out) == 1 and out[0].startswith(b"r OK"), out
    r.close()
    r1 = Raw(loft)
    out = r1.cmd(b"c CREATE " + mutf7("Zo\u0308gern"))
    assert len(out) == 1 and out[0].startswith(b"c OK"), out
    out = r1.cmd(b'l LIST "" "Z*"')
    assert out[0] == b'* LIST (\\HasNoChildren) "/" "' + mutf7("Z\u00f6gern") + b'"', out
    r1.close()


def test_list_missing_level_nonexistent(loft):
    """rev2's LIST is LIST-EXTENDED's: a hierarchy level without a mailbox
    is \\NonExistent (RFC 9051 6.3.9); rev1's plain LIST says \\Noselect."""
    r = Raw(loft, rev2=True)
    assert r.cmd(b"c CREATE GapTop/Kid")[-1].startswith(b"c OK")
    out = r.cmd(b'l LIST "" "GapTop*"')
    assert b'* LIST (\\NonExistent \\HasChildren) "/" "GapTop"' in out, out
    assert b'* LIST (\\HasNoChildren) "/" "GapTop/Kid"' in out, out
    r.close()
    r1 = Raw(loft)
    out = r1.cmd(b'l LIST "" "GapTop*"')
    assert b'* LIST (\\Noselect \\HasChildren) "/" "GapTop"' in out, out
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
    # RFC 9051 7.1 response codes for what does not exist
    assert r.cmd(b"s SELECT NoSuchBox")[-1].startswith(b"s NO [NONEXISTENT]")
    assert r.cmd(b"t STATUS NoSuchBox (MESSAGES)")[-1].startswith(b"t NO [NONEXISTENT]")
    assert r.cmd(b"d DELETE NoSuchBox")[-1].startswith(b"d NO [NONEXISTENT]")
    out = r.cmd(b"a APPEND NoSuchBox " + lit(msg("x")))
    assert out[-1].startswith(b"a NO [TRYCREATE]"), out
    r.close()


# --- UTF8=ACCEPT (RFC 6855) ------------------------------------------------

UMSG = "From: Jürgen <j@example.org>\r\nSubject: Grüße aus Köln\r\n\r\nHallo\r\n".encode()


def lit8(b):
    return b"~{%d+}\r\n" % len(b) + b


def test_utf8_accept_capability(loft):
    """UTF8=ACCEPT is offered after login (ENABLE needs it), not before."""
    r = Raw(loft, login=False)
    assert b"UTF8=ACCEPT" not in caps_of(r.cmd(b"c CAPABILITY")[0])
    r.close()
    r = Raw(loft)
    assert b"UTF8=ACCEPT" in caps_of(r.cmd(b"c CAPABILITY")[0])
    out = r.cmd(b"e ENABLE UTF8=ACCEPT")
    assert out == [b"* ENABLED UTF8=ACCEPT", b"e OK ENABLE completed"], out
    r.close()


def test_utf8_quoted_before_enable(loft):
    """Before ENABLE, valid UTF-8 in a quoted string is taken (as Dovecot
    does: clients send SEARCH CHARSET UTF-8 TEXT "ü" quoted) and matches as
    the same text in a literal does; invalid UTF-8, NUL, CR or LF in a
    quoted string is BAD and the session goes on.  A rev1 mailbox name
    is still modified UTF-7: an 8-bit one names no mailbox (NO)."""
    r = Raw(loft)
    assert r.cmd(b"c CREATE U8Pre")[-1].startswith(b"c OK")
    r.cmd(b"a APPEND U8Pre " + lit(UMSG))
    assert r.cmd(b"s SELECT U8Pre")[-1].startswith(b"s OK")
    out = r.cmd('q SEARCH CHARSET UTF-8 SUBJECT "grüße"'.encode())
    assert out == [b"* SEARCH 1", b"q OK SEARCH completed"], out
    out = r.cmd('q2 SEARCH CHARSET UTF-8 TEXT "ü"'.encode())
    assert out == [b"* SEARCH 1", b"q2 OK SEARCH completed"], out
    out = r.cmd(b"l SEARCH CHARSET UTF-8 SUBJECT " + lit("grüße".encode()))
    assert out == [b"* SEARCH 1", b"l OK SEARCH completed"], out
    for bad in (b'"gr\xfc\xdfe"', b'"\xc3("', b'"\xed\xa0\x80"', b'"a\x00b"'):
        out = r.cmd(b"b SEARCH CHARSET UTF-8 SUBJECT " + bad)
        assert out[-1].startswith(b"b BAD"), (bad, out)
    assert r.cmd(b"n NOOP")[-1].startswith(b"n OK")
    out = r.cmd('m CREATE "Köln"'.encode())
    assert out[-1].startswith(b"m NO"), out
    assert r.cmd(b"e ENABLE UTF8=ACCEPT")[-1].startswith(b"e OK")
    out = r.cmd('q SEARCH SUBJECT "grüße"'.encode())
    assert out == [b"* SEARCH 1", b"q OK SEARCH completed"], out
    r.close()


def test_imaplib_utf8_quoted_search(loft):
    """imaplib (which quotes its arguments itself) searching UTF-8 text
    before any ENABLE, the way mail clients do."""
    m = imap_ssl(loft)
    assert m.create("U8Lib")[0] == "OK"
    assert m.append("U8Lib", None, None, UMSG)[0] == "OK"
    assert m.select("U8Lib")[0] == "OK"
    typ, dat = m.search("UTF-8", "SUBJECT", '"grüße"'.encode())
    assert (typ, dat) == ("OK", [b"1"]), (typ, dat)
    typ, dat = m.search("UTF-8", "TEXT", '"ü"'.encode())
    assert (typ, dat) == ("OK", [b"1"]), (typ, dat)
    typ, dat = m.search("UTF-8", "SUBJECT", '"grüße-nicht"'.encode())
    assert (typ, dat) == ("OK", [b""]), (typ, dat)
    m.logout()


def test_utf8_accept_session(loft):
    """After ENABLE UTF8=ACCEPT: UTF-8 names quoted both ways, APPEND UTF8
    with a literal8, the header fields come back as stored (raw UTF-8),
    SEARCH takes no CHARSET and SORT/THREAD only UTF-8 (RFC 6855 3 with
    erratum 4029); an IMAP4rev1 session sees the mailbox in mUTF-7."""
    r = Raw(loft)
    assert r.cmd(b"e ENABLE UTF8=ACCEPT")[-1].startswith(b"e OK")
    box = "Köln".encode()
    assert r.cmd(b'c CREATE "' + box + b'"')[-1].startswith(b"c OK")
    assert r.cmd(b'l LIST "" "K*"')[0] == b'* LIST (\\HasNoChildren) "/" "' + box + b'"'
    out = r.cmd(b'a APPEND "' + box + b'" (\\Seen) UTF8 (' + lit8(UMSG) + b")")
    assert out[-1].startswith(b"a OK [APPENDUID "), out
    out = r.cmd(b'a APPEND "' + box + b'" UTF8 (' + lit8(b"Subject: x\r\n\r\ny\r\n") + b")")
    assert out[-1].startswith(b"a OK [APPENDUID "), out
    out = r.cmd(b'e EXAMINE "' + box + b'"')
    assert b"* 2 EXISTS" in out, out
    r.send(b"f FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] RFC822.SIZE FLAGS)\r\n")
    first = r.line()
    assert first.endswith(b"}"), first
    n = int(first.rsplit(b"{", 1)[1][:-1])
    while len(r.buf) < n:
        r.buf += r.s.recv(65536)
    body, r.buf = r.buf[:n], r.buf[n:]
    assert body == "Subject: Grüße aus Köln\r\n\r\n".encode(), body
    rest = r.until_tag(b"f")
    assert rest[-1].startswith(b"f OK"), rest
    assert b"RFC822.SIZE %d" % len(UMSG) in rest[0], rest
    out = r.cmd('s SEARCH FROM "jürgen"'.encode())
    assert out == [b"* SEARCH 1", b"s OK SEARCH completed"], out
    assert r.cmd(b"s SEARCH CHARSET UTF-8 ALL")[-1].startswith(b"s BAD")
    assert r.cmd(b"o SORT (SUBJECT) US-ASCII ALL")[-1].startswith(b"o BAD")
    out = r.cmd(b"o SORT (SUBJECT) UTF-8 ALL")
    assert out == [b"* SORT 1 2", b"o OK SORT completed"] or out[-1].startswith(b"o OK"), out
    assert r.cmd(b"t THREAD REFERENCES UTF-8 ALL")[-1].startswith(b"t OK")
    r.close()
    r1 = Raw(loft)
    assert r1.cmd(b'l LIST "" "K*"')[0] == b'* LIST (\\HasNoChildren) "/" "K&APY-ln"'
    r1.close()


def test_append_utf8_bad_input(loft):
    """APPEND UTF8 before ENABLE, with a plain literal, with two messages in
    the list, with an empty list: BAD, nothing stored, the session goes on;
    invalid UTF-8 in a quoted string is BAD after ENABLE too."""
    r = Raw(loft)
    assert r.cmd(b"c CREATE U8Bad")[-1].startswith(b"c OK")
    out = r.cmd(b"a APPEND U8Bad UTF8 (" + lit8(b"Subject: a\r\n\r\nb\r\n") + b")")
    assert out[-1].startswith(b"a BAD"), out
    assert r.cmd(b"e ENABLE UTF8=ACCEPT")[-1].startswith(b"e OK")
    for bad in (b"UTF8 (" + lit(b"Subject: a\r\n\r\nb\r\n") + b")",
                b"UTF8 (" + lit8(b"Subject: a\r\n\r\nb\r\n") + b" " + lit8(b"x\r\n\r\ny") + b")",
                b"UTF8 ()", b"UTF8", b"UTF8 " + lit8(b"Subject: a\r\n\r\nb\r\n")):
        out = r.cmd(b"a APPEND U8Bad " + bad)
        assert out[-1].startswith(b"a BAD"), (bad, out)
    assert r.cmd(b'q SELECT "\xc3("')[-1].startswith(b"q BAD")
    assert r.cmd(b'q SELECT "\xed\xa0\x80"')[-1].startswith(b"q BAD")
    out = r.cmd(b"s STATUS U8Bad (MESSAGES)")
    assert out[0] == b'* STATUS "U8Bad" (MESSAGES 0)', out
    # MULTIAPPEND: UTF8 items and a plain literal, all in one
    out = r.cmd(b"a APPEND U8Bad UTF8 (" + lit8(UMSG) + b") (\\Flagged) UTF8 (" + lit8(UMSG) +
                b") " + lit(b"Subject: plain\r\n\r\nx\r\n"))
    assert re.match(rb"a OK \[APPENDUID \d+ \d+:\d+\]", out[-1]), out
    out = r.cmd(b"s STATUS U8Bad (MESSAGES)")
    assert out[0] == b'* STATUS "U8Bad" (MESSAGES 3)', out
    r.close()


def test_utf8_accept_byte_by_byte(loft):
    """ENABLE UTF8=ACCEPT, CREATE, APPEND UTF8 and SEARCH, one byte per TLS
    record."""
    r = Raw(loft)
    box = "Bytes-ü".encode()
    script = (b"e ENABLE UTF8=ACCEPT\r\n"
              b'c CREATE "' + box + b'"\r\n'
              b'a APPEND "' + box + b'" UTF8 (' + lit8(UMSG) + b")\r\n"
              b'x SELECT "' + box + b'"\r\n' +
              'f SEARCH SUBJECT "köln"\r\n'.encode() +
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
    assert b"* ENABLED UTF8=ACCEPT" in out, out
    for t in (b"e", b"c", b"a", b"x", b"f", b"z"):
        assert any(l.startswith(t + b" OK") for l in out), (t, out)
    assert b"* SEARCH 1" in out, out


def test_imaplib_utf8_names(loft):
    """imaplib with UTF8=ACCEPT enabled (it sends names as UTF-8): create,
    list, select."""
    m = imap_ssl(loft)
    assert m.enable("UTF8=ACCEPT")[0] == "OK"
    assert m.create("Straße")[0] == "OK"
    typ, data = m.list('""', "Stra*")
    assert typ == "OK" and data == ['(\\HasNoChildren) "/" "Straße"'.encode()], data
    typ, data = m.select("Straße")
    assert typ == "OK" and data == [b"0"], data
    m.logout()


# --- LITERAL+ / LITERAL- (RFC 7888) ----------------------------------------

def test_literal_limits(loft):
    """LITERAL+ is offered (not LITERAL- beside it), so after login a
    non-synchronising literal may exceed LITERAL-'s 4096 octets; before
    login 4096 is the limit (what LITERAL- would allow): a synchronising
    literal over it gets BAD [TOOBIG] without '+' and the session goes on,
    a non-synchronising one BAD [TOOBIG] and the connection ends (its bytes
    cannot be told from commands)."""
    r = Raw(loft, login=False)
    out = r.cmd(b"a LOGIN {4096+}\r\n" + b"u" * 4096 + b" pw")
    assert out[-1].startswith(b"a NO"), out
    out = r.cmd(b"b LOGIN {4097}")
    assert out == [b"b BAD [TOOBIG] literal too large"], out
    assert r.cmd(b"n NOOP")[-1].startswith(b"n OK")
    r.send(b"c LOGIN {4097+}\r\n" + b"u" * 4097 + b" pw\r\n")
    out = []
    try:
        while True:
            out.append(r.line())
    except (EOFError, ConnectionError):
        pass
    assert out[:2] == [b"* BYE literal too large", b"c BAD [TOOBIG] literal too large"], out
    r.close()
    r = Raw(loft)
    big = b"x" * 10000
    out = r.cmd(b"c CREATE " + lit(big))
    assert out[-1].startswith(b"c NO"), out  # too long a name, but read whole
    assert r.cmd(b"n NOOP")[-1].startswith(b"n OK")
    r.close()
