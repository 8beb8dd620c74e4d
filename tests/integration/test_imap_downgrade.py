"""Issue 9, RFC 6855 5: a session that has not enabled UTF8=ACCEPT (nor
IMAP4rev2) sees a message whose header is UTF-8 (RFC 6532) downgraded per
RFC 6857 3: every FETCH item (ENVELOPE, BODYSTRUCTURE, BODY[HEADER...],
BODY[], RFC822.SIZE, BINARY) is 7-bit and they agree with each other; the
body is untouched; a session that enabled UTF8=ACCEPT gets the message as
stored.  Real loftd --dev with loft-imapd; clients are imaplib, Python's
email package to read what came, and raw sockets (also one byte per TLS
record)."""
import email
import email.header
import email.policy
import re

import pytest

from loft_imap_helpers import PASS, USER, ImapRaw, imap_ssl, running_loft, tls_connect


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    yield from running_loft(tmp_path_factory.mktemp("imapdg"), {USER: PASS})


BODY = "Grüße aus Köln\r\nzweite Zeile\r\n".encode()
INTL = ("From: Jürgen Müller <jürgen@bücher.example>\r\n"
        "To: Bob <bob@example.org>, 田中 <tanaka@example.jp>\r\n"
        "Subject: Grüße aus Köln\r\n"
        "Message-ID: <ü1@bücher.example>\r\n"
        "Date: Mon, 7 Dec 2026 05:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8; name=\"Grüße.txt\"\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n").encode() + BODY
MULTI = ("From: a@example.org\r\n"
         "Subject: report\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: multipart/mixed; boundary=zz\r\n"
         "\r\n"
         "--zz\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "\r\n"
         "see attached\r\n"
         "--zz\r\n"
         "Content-Type: application/pdf\r\n"
         "Content-Disposition: attachment; filename=\"Résumé.pdf\"\r\n"
         "Content-Transfer-Encoding: base64\r\n"
         "\r\n"
         "JVBERg==\r\n"
         "--zz\r\n"
         "Content-Type: message/rfc822\r\n"
         "\r\n"
         "From: Zoë <zoe@example.org>\r\n"
         "Subject: été\r\n"
         "\r\n"
         "inner\r\n"
         "--zz--\r\n").encode()
LATIN1 = b"From: a@example.org\r\nSubject: Gr\xfc\xdfe\r\n\r\nlegacy\r\n"
ASCII = b"From: a@example.org\r\nSubject: plain\r\n\r\nplain body\r\n"


class Raw(ImapRaw):
    def __init__(self, loft, login=True):
        super().__init__(tls_connect(loft.port("imaps")), login)

    def fetch_raw(self, tag, cmd):
        """Sends cmd and returns everything up to the tagged reply as
        bytes, literals included."""
        self.send(tag + b" " + cmd + b"\r\n")
        return self.read_tagged(tag)

    def read_tagged(self, tag):
        data = b""
        while True:
            while b"\r\n" not in self.buf:
                d = self.s.recv(65536)
                if not d:
                    raise EOFError(data + self.buf)
                self.buf += d
            line, self.buf = self.buf.split(b"\r\n", 1)
            data += line + b"\r\n"
            m = re.search(rb"~?\{(\d+)\}$", line)
            if m:
                n = int(m.group(1))
                while len(self.buf) < n:
                    self.buf += self.s.recv(65536)
                data += self.buf[:n]
                self.buf = self.buf[n:]
                continue
            if line.startswith(tag + b" "):
                return data


def lit8(b):
    return b"~{%d+}\r\n" % len(b) + b


def lit(b):
    return b"{%d+}\r\n" % len(b) + b


@pytest.fixture(scope="module")
def box(loft):
    """A mailbox with the internationalized message (1), a legacy Latin-1
    one (2), an ASCII one (3), and one whose UTF-8 is only in a part's
    header and an attached message's (4)."""
    r = Raw(loft)
    assert r.cmd(b"e ENABLE UTF8=ACCEPT")[-1].startswith(b"e OK")
    assert r.cmd(b"c CREATE Intl")[-1].startswith(b"c OK")
    assert r.cmd(b"a APPEND Intl UTF8 (" + lit8(INTL) + b")")[-1].startswith(b"a OK")
    assert r.cmd(b"a APPEND Intl " + lit(LATIN1))[-1].startswith(b"a OK")
    assert r.cmd(b"a APPEND Intl " + lit(ASCII))[-1].startswith(b"a OK")
    assert r.cmd(b"a APPEND Intl UTF8 (" + lit8(MULTI) + b")")[-1].startswith(b"a OK")
    r.close()
    return "Intl"


def fetch1(m, uid, item):
    typ, dat = m.uid("FETCH", str(uid), "(" + item + ")")
    assert typ == "OK", dat
    return dat


def test_legacy_session_sees_7bit(loft, box):
    """imaplib without ENABLE: the internationalized message comes 7-bit in
    every item, RFC822.SIZE is the length of BODY[], the header decodes to
    the original text, the body is the original body."""
    m = imap_ssl(loft)
    assert m.select(box, readonly=True)[0] == "OK"
    dat = fetch1(m, 1, "RFC822.SIZE BODY.PEEK[]")
    meta, full = dat[0]
    size = int(re.search(rb"RFC822.SIZE (\d+)", meta + dat[1]).group(1))
    assert len(full) == size, (len(full), size)
    head = full.split(b"\r\n\r\n", 1)[0]
    assert all(b < 0x80 for b in head), head  # the 8bit body stays as it is
    assert full.endswith(b"\r\n\r\n" + BODY), full
    msg = email.message_from_bytes(full, policy=email.policy.default)
    assert str(msg["Subject"]) == "Grüße aus Köln"
    assert "Jürgen Müller" in str(msg["From"])
    assert "Bob <bob@example.org>" in str(msg["To"])
    # the UTF-8 address is gone from the mailbox slot but not from view
    assert b"Downgraded-Message-ID:" in full and b"\r\nMessage-ID:" not in full
    assert b"name*=utf-8''Gr%C3%BC%C3%9Fe.txt" in full, full
    # header and text sections agree with the whole
    hdr = fetch1(m, 1, "BODY.PEEK[HEADER]")[0][1]
    txt = fetch1(m, 1, "BODY.PEEK[TEXT]")[0][1]
    assert hdr + txt == full
    assert txt == BODY
    sub = fetch1(m, 1, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")[0][1]
    assert sub.startswith(b"Subject: =?UTF-8?B?") and all(b < 0x80 for b in sub), sub
    # RFC822 (non-peek) and BINARY.SIZE[] are the same bytes
    dat = fetch1(m, 1, "BINARY.SIZE[] RFC822.HEADER")
    flat = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in dat)
    assert b"BINARY.SIZE[] %d" % size in flat, flat
    # ENVELOPE and BODYSTRUCTURE: 7-bit, no literal needed for the subject
    dat = fetch1(m, 1, "ENVELOPE BODYSTRUCTURE")
    flat = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in dat)
    assert all(b < 0x80 for b in flat), flat
    assert b'"=?UTF-8?B?' in flat and b'"bob" "example.org"' in flat, flat
    assert b"(NIL NIL NIL NIL)" in flat, flat  # the UTF-8 address: an empty group
    m.logout()


def test_utf8_session_sees_stored(loft, box):
    """After ENABLE UTF8=ACCEPT the message is the stored one, byte for byte;
    so it is for IMAP4rev2."""
    for ext in (b"UTF8=ACCEPT", b"IMAP4rev2"):
        r = Raw(loft)
        assert r.cmd(b"e ENABLE " + ext)[-1].startswith(b"e OK")
        assert r.cmd(b"s EXAMINE Intl")[-1].startswith(b"s OK")
        data = r.fetch_raw(b"f", b"UID FETCH 1 (RFC822.SIZE BODY.PEEK[])")
        assert INTL in data, data
        assert b"RFC822.SIZE %d" % len(INTL) in data, data
        r.close()


def test_legacy_and_ascii_untouched(loft, box):
    """A header with 8-bit bytes that are not UTF-8 (legacy mail) is not an
    internationalized one: as stored, like an ASCII message."""
    r = Raw(loft)
    assert r.cmd(b"s EXAMINE Intl")[-1].startswith(b"s OK")
    data = r.fetch_raw(b"f", b"UID FETCH 2 (RFC822.SIZE BODY.PEEK[])")
    assert LATIN1 in data and b"RFC822.SIZE %d" % len(LATIN1) in data, data
    data = r.fetch_raw(b"f", b"UID FETCH 3 (RFC822.SIZE BODY.PEEK[])")
    assert ASCII in data and b"RFC822.SIZE %d" % len(ASCII) in data, data
    r.close()


def test_downgrade_byte_by_byte(loft, box):
    """The same FETCH session whole and fed one byte per TLS record gives
    the same bytes."""
    script = (b"s EXAMINE Intl\r\n"
              b"f UID FETCH 1:3 (RFC822.SIZE ENVELOPE BODY.PEEK[HEADER] BODY.PEEK[1])\r\n"
              b"z LOGOUT\r\n")
    outs = []
    for step in (len(script), 1):
        r = Raw(loft)
        for i in range(0, len(script), step):
            r.send(script[i:i + step])
        data = r.buf
        try:
            while True:
                d = r.s.recv(65536)
                if not d:
                    break
                data += d
        except OSError:
            pass
        r.close()
        outs.append(data)
    assert outs[0] == outs[1]
    assert b"z OK" in outs[0]
    first = outs[0].split(b"* 1 FETCH", 1)[1].split(b"* 2 FETCH", 1)[0]
    assert all(b < 0x80 for b in first.split(b"BODY[1]")[0]), first


def test_parts_downgraded(loft, box):
    """UTF-8 in a part's header (an attachment's file name) and in an
    attached message's header: downgraded too (RFC 6857 3), in
    BODYSTRUCTURE, BODY[2.MIME], BODY[3.HEADER] and BODY[]; the parts'
    bodies and the sizes agree."""
    m = imap_ssl(loft)
    assert m.select(box, readonly=True)[0] == "OK"
    dat = fetch1(m, 4, "RFC822.SIZE BODYSTRUCTURE BODY.PEEK[]")
    flat = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in dat)
    full = dat[0][1]
    size = int(re.search(rb"RFC822.SIZE (\d+)", flat).group(1))
    assert len(full) == size
    assert all(b < 0x80 for b in full), full
    assert b"filename*=utf-8''R%C3%A9sum%C3%A9.pdf" in full, full
    msg = email.message_from_bytes(full, policy=email.policy.default)
    parts = list(msg.iter_parts())
    assert parts[1].get_filename() == "Résumé.pdf"
    assert parts[1].get_content() == b"%PDF"
    inner = parts[2].get_content()
    assert str(inner["Subject"]) == "été" and "Zoë" in str(inner["From"])
    bs = flat.split(b"BODYSTRUCTURE", 1)[1]
    assert all(b < 0x80 for b in bs), bs
    mime2 = fetch1(m, 4, "BODY.PEEK[2.MIME]")[0][1]
    assert b"filename*=utf-8''" in mime2 and all(b < 0x80 for b in mime2), mime2
    hdr3 = fetch1(m, 4, "BODY.PEEK[3.HEADER]")[0][1]
    assert hdr3.startswith(b"From: =?UTF-8?B?") and b"Subject: =?UTF-8?B?w6l0w6k=?=" in hdr3, hdr3
    assert fetch1(m, 4, "BODY.PEEK[3.TEXT]")[0][1] == b"inner"  # CRLF: the delimiter's
    m.logout()
    # UTF8=ACCEPT: as stored
    r = Raw(loft)
    assert r.cmd(b"e ENABLE UTF8=ACCEPT")[-1].startswith(b"e OK")
    assert r.cmd(b"s EXAMINE Intl")[-1].startswith(b"s OK")
    data = r.fetch_raw(b"f", b"UID FETCH 4 (BODY.PEEK[])")
    assert MULTI in data, data
    r.close()


def test_search_and_sort_size_agree_with_rfc822_size(loft, box):
    """SEARCH LARGER/SMALLER and SORT SIZE use the RFC822.SIZE the session
    sees: the downgraded size without UTF8=ACCEPT, the stored one with it
    (imaplib, both kinds of session)."""
    for utf8 in (False, True):
        m = imap_ssl(loft)
        if utf8:
            assert m.enable("UTF8=ACCEPT")[0] == "OK"
        assert m.select(box, readonly=True)[0] == "OK"
        typ, dat = m.uid("FETCH", "1:*", "(RFC822.SIZE)")
        assert typ == "OK"
        sizes = {}
        for x in dat:
            line = x if isinstance(x, bytes) else x[0]
            g = re.search(rb"UID (\d+) RFC822.SIZE (\d+)|RFC822.SIZE (\d+) UID (\d+)", line)
            uid, size = (g.group(1), g.group(2)) if g.group(1) else (g.group(4), g.group(3))
            sizes[int(uid)] = int(size)
        assert len(sizes) == 4
        assert (sizes[1] == len(INTL)) == utf8
        for uid, size in sizes.items():
            def found(*keys):
                typ, d = m.uid("SEARCH", *keys)
                assert typ == "OK", d
                return uid in [int(u) for u in d[0].split()]
            assert found("LARGER", str(size - 1)) and not found("LARGER", str(size))
            assert found("SMALLER", str(size + 1)) and not found("SMALLER", str(size))
        typ, d = m.uid("SORT", "(SIZE)", "UTF-8", "ALL")
        assert typ == "OK", d
        order = [int(u) for u in d[0].split()]
        assert [sizes[u] for u in order] == sorted(sizes.values()), (order, sizes)
        m.logout()


def test_old_row_sizes_agree(loft):
    """A row stored before the UTF-8 mark (mime_flags 0, as an old store
    has it) has its header looked at: RFC822.SIZE, SEARCH LARGER/SMALLER and
    SORT SIZE still agree on the downgraded size."""
    import os
    import sqlite3
    r = Raw(loft)
    assert r.cmd(b"e ENABLE UTF8=ACCEPT")[-1].startswith(b"e OK")
    assert r.cmd(b"c CREATE Old")[-1].startswith(b"c OK")
    assert r.cmd(b"a APPEND Old UTF8 (" + lit8(INTL) + b")")[-1].startswith(b"a OK")
    assert r.cmd(b"a APPEND Old " + lit(ASCII))[-1].startswith(b"a OK")
    r.close()
    db = sqlite3.connect(os.path.join(loft.dir, "loft.db"), timeout=10)
    with db:
        n = db.execute("UPDATE messages SET mime_flags = 0 WHERE id IN (SELECT e.message_id"
                       " FROM entries e JOIN mailboxes b ON b.id = e.mailbox_id"
                       " WHERE b.name = 'Old')").rowcount
    db.close()
    assert n == 2
    m = imap_ssl(loft)
    assert m.select("Old", readonly=True)[0] == "OK"
    dat = fetch1(m, 1, "RFC822.SIZE BODY.PEEK[]")
    meta, full = dat[0]
    size = int(re.search(rb"RFC822.SIZE (\d+)", meta + dat[1]).group(1))
    assert len(full) == size != len(INTL)
    typ, d = m.uid("SEARCH", "LARGER", str(size - 1))
    assert d[0].split() == [b"1"], d
    typ, d = m.uid("SEARCH", "SMALLER", str(size))
    assert d[0].split() == [b"2"], d
    typ, d = m.uid("SORT", "(REVERSE SIZE)", "UTF-8", "ALL")
    assert d[0].split() == [b"1", b"2"], d
    m.logout()
