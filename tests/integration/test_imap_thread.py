"""THREAD and UID THREAD (RFC 5256 3) on a real loftd, spoken by imaplib:
REFERENCES (References before In-Reply-To, a missing parent, a duplicate
Message-ID, a References loop, threads joined by base subject) and
ORDEREDSUBJECT, with search keys, charsets and bad algorithms."""

import imaplib

import pytest

from loft_imap_helpers import PASS, USER, finish, imap_ssl, start_loft

# (Message-ID, Subject, References, In-Reply-To, day of January 2020)
MSGS = [
    ("<a@x>", "hello", None, None, 2),
    ("<b@x>", "Re: hello", "<a@x>", None, 3),
    ("<c@x>", "other", None, None, 4),
    ("<d@x>", "Re: hello", None, "<a@x>", 5),
    ("<e@x>", "Re: hello", "<a@x> (comment) <b@x>", "<zzz@x>", 6),
    ("<f@x>", "Re: lost", "<missing@x>", None, 7),
    ("<g@x>", "lost", None, None, 1),
    ("<a@x>", "dup", None, None, 9),
    ("<h@x>", "loop1", "<i@x>", None, 10),
    ("<i@x>", "loop2", "<h@x>", None, 11),
]


def raw(i):
    mid, subj, refs, irt, day = MSGS[i]
    h = "From: a@x.org\r\nSubject: %s\r\nMessage-ID: %s\r\nDate: %d Jan 2020 10:00:00 +0000\r\n" % (
        subj, mid, day)
    if refs:
        h += "References: %s\r\n" % refs
    if irt:
        h += "In-Reply-To: %s\r\n" % irt
    return (h + "\r\nbody %d\r\n" % i).encode()


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    lf = start_loft(tmp_path_factory.mktemp("thread"), {USER: PASS})
    c = imap_ssl(lf)
    # a first message expunged, so UIDs are sequence numbers + 1
    assert c.append("INBOX", r"(\Deleted)", None, b"Subject: gone\r\n\r\nx\r\n")[0] == "OK"
    for i in range(len(MSGS)):
        assert c.append("INBOX", None, None, raw(i))[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    assert c.expunge()[0] == "OK"
    yield c
    c.logout()
    finish(lf)


def test_capability(m):
    typ, dat = m.capability()
    caps = dat[0].decode().upper().split()
    assert "THREAD=REFERENCES" in caps and "THREAD=ORDEREDSUBJECT" in caps


def test_references(m):
    typ, dat = m.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK" and dat[0] == b"(7 6)(1 (2 5)(4))(3)(8)(10 9)"


def test_orderedsubject(m):
    typ, dat = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert typ == "OK" and dat[0] == b"(7 6)(1 (2)(4)(5))(3)(8)(9)(10)"


def test_search_keys_and_uid(m):
    typ, dat = m.thread("REFERENCES", "US-ASCII", "1:5")
    assert typ == "OK" and dat[0] == b"(1 (2 5)(4))(3)"
    typ, dat = m.uid("THREAD", "REFERENCES", "UTF-8", "1:5")
    assert typ == "OK" and dat[0] == b"(2 (3 6)(5))(4)"
    typ, dat = m.uid("THREAD", "ORDEREDSUBJECT", "UTF-8", "SUBJECT", "nothing-like-this")
    assert typ == "OK" and dat[0] in (None, b"")


def test_badcharset(m):
    typ, dat = m.thread("REFERENCES", "KOI8-R", "ALL")
    assert typ == "NO" and b"[BADCHARSET" in dat[0]


@pytest.mark.parametrize("args", [
    ("BOGUS", "UTF-8", "ALL"),
    ("(REFERENCES)", "UTF-8", "ALL"),
    ("REFERENCES", "UTF-8", "NOSUCHKEY"),
    ("REFERENCES", "UTF-8"),
])
def test_bad(m, args):
    with pytest.raises(imaplib.IMAP4.error):
        m.thread(*args)
    assert m.noop()[0] == "OK"
