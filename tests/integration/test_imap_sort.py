"""SORT and UID SORT (RFC 5256) with SORT=DISPLAY (RFC 5957) on a real
loftd, spoken by imaplib: every criterion, REVERSE, ties by sequence
number, the Date: fallback to INTERNALDATE, search keys, charsets and bad
criteria."""

import imaplib

import pytest

from loft_imap_helpers import PASS, USER, finish, imap_ssl, start_loft

BASE = 1704067200  # 2024-01-01 00:00 UTC, the INTERNALDATEs count from here

# (headers, internaldate offset in hours, body padding)
MSGS = [
    ("Subject: Re: banana\r\nFrom: Zed <zed@x.org>\r\nTo: Bob <bob@x.org>\r\n"
     "Cc: carol@x.org\r\nDate: Thu, 2 Jan 2020 10:00:00 +0000\r\n", 3, 10),
    ("Subject: apple\r\nFrom: adam@x.org\r\nTo: Zoe <zoe@x.org>\r\n"
     "Date: Thu, 2 Jan 2020 09:00:00 -0200\r\n", 1, 300),
    ("Subject: [list] Fwd: cherry (fwd)\r\nFrom: Aaron <mal@x.org>\r\n"
     "To: =?utf-8?q?Andr=C3=A9?= <yy@x.org>\r\n", 2, 50),
    ("Subject: RE: =?utf-8?q?apple?=\r\nFrom: \"Bob\" <bob@x.org>\r\nTo: carl@x.org\r\n"
     "Date: 31 Dec 2019 23:00 +0000\r\n", 4, 0),
]


def raw(i):
    hdr, _, pad = MSGS[i]
    return (hdr + "Message-ID: <m%d@x.org>\r\n\r\nbody %d\r\n" % (i, i) + "x" * pad + "\r\n").encode()


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    lf = start_loft(tmp_path_factory.mktemp("sort"), {USER: PASS})
    c = imap_ssl(lf)
    # a first message expunged, so UIDs are sequence numbers + 1
    assert c.append("INBOX", r"(\Deleted)", None, b"Subject: gone\r\n\r\nx\r\n")[0] == "OK"
    for i in range(len(MSGS)):
        t = imaplib.Time2Internaldate(BASE + MSGS[i][1] * 3600)
        assert c.append("INBOX", None, t, raw(i))[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    assert c.expunge()[0] == "OK"
    yield c
    c.logout()
    finish(lf)


def sort(m, crit, *keys, charset="UTF-8"):
    typ, dat = m.sort(crit, charset, *(keys or ("ALL",)))
    assert typ == "OK", dat
    return [int(x) for x in dat[0].split()]


def test_capability(m):
    typ, dat = m.capability()
    caps = dat[0].decode().upper().split()
    assert typ == "OK" and "SORT" in caps and "SORT=DISPLAY" in caps


@pytest.mark.parametrize("crit,want", [
    ("(SUBJECT)", [2, 4, 1, 3]),          # base subjects apple apple banana cherry
    ("(REVERSE SUBJECT)", [3, 1, 2, 4]),  # ties stay in sequence order
    ("(ARRIVAL)", [2, 3, 1, 4]),
    ("(REVERSE ARRIVAL)", [4, 1, 3, 2]),
    ("(DATE)", [4, 1, 2, 3]),             # 3 has no Date: its INTERNALDATE (2024)
    ("(FROM)", [2, 4, 3, 1]),             # adam bob mal zed
    ("(DISPLAYFROM)", [3, 2, 4, 1]),      # Aaron adam@x.org Bob Zed
    ("(TO)", [1, 4, 3, 2]),               # bob carl yy zoe
    ("(DISPLAYTO)", [3, 1, 4, 2]),        # André Bob carl@x.org Zoe
    ("(CC)", [2, 3, 4, 1]),               # absent sorts first
    ("(SUBJECT REVERSE DATE)", [2, 4, 1, 3]),
    ("(SUBJECT DATE)", [4, 2, 1, 3]),
    ("(REVERSE SUBJECT REVERSE ARRIVAL)", [3, 1, 4, 2]),
])
def test_criteria(m, crit, want):
    assert sort(m, crit) == want


def test_size(m):
    sizes = [len(raw(i)) for i in range(len(MSGS))]
    want = sorted(range(1, 5), key=lambda s: (sizes[s - 1], s))
    assert sort(m, "(SIZE)") == want


def test_search_keys_and_charsets(m):
    assert sort(m, "(SUBJECT)", "2:4") == [2, 4, 3]
    assert sort(m, "(SUBJECT)", "FROM", "bob") == [4]
    assert sort(m, "(SUBJECT)", "SUBJECT", "nothing-like-this") == []
    assert sort(m, "(ARRIVAL)", "ALL", charset="US-ASCII") == [2, 3, 1, 4]
    typ, dat = m.sort("(ARRIVAL)", "ISO-8859-1", "ALL")
    assert typ == "NO" and b"[BADCHARSET" in dat[0]


def test_uid_sort(m):
    typ, dat = m.uid("SORT", "(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK" and [int(x) for x in dat[0].split()] == [3, 5, 2, 4]
    typ, dat = m.uid("SORT", "(REVERSE ARRIVAL)", "UTF-8", "UID", "3:5")
    assert typ == "OK" and [int(x) for x in dat[0].split()] == [5, 4, 3]


@pytest.mark.parametrize("args", [
    ("(BOGUS)", "UTF-8", "ALL"),
    ("()", "UTF-8", "ALL"),
    ("(REVERSE)", "UTF-8", "ALL"),
    ("(DATE REVERSE)", "UTF-8", "ALL"),
    ("(" + " ".join(["SIZE"] * 17) + ")", "UTF-8", "ALL"),
    ("(DATE)", "UTF-8"),
    ("(DATE)", "UTF-8", "NOSUCHKEY"),
])
def test_bad(m, args):
    with pytest.raises(imaplib.IMAP4.error):
        m.sort(*args)
    assert m.noop()[0] == "OK"


def test_missing_charset_is_bad(m):
    with pytest.raises(imaplib.IMAP4.error):
        m._simple_command("SORT", "(DATE)")
    assert m.noop()[0] == "OK"


def esort(m, *args, uid=False):
    cmd = ("UID", "SORT") if uid else ("SORT",)
    typ, dat = m._simple_command(*cmd, *args)
    assert typ == "OK", dat
    typ, dat = m._untagged_response(typ, dat, "ESEARCH")
    return dat[0].decode()


def test_esort(m):
    assert "ESORT" in m.capability()[1][0].decode().upper().split()
    got = esort(m, "RETURN", "(MIN MAX COUNT ALL)", "(SUBJECT)", "UTF-8", "ALL")
    assert got.endswith(") MIN 2 MAX 3 COUNT 4 ALL 2,4,1,3"), got
    # ALL keeps the sort order: only runs ascending by one are ranges
    got = esort(m, "RETURN", "()", "(ARRIVAL)", "UTF-8", "ALL")
    assert got.endswith(") ALL 2:3,1,4"), got
    got = esort(m, "RETURN", "(COUNT)", "(DATE)", "UTF-8", "SUBJECT", "nothing-like-this")
    assert got.endswith(") COUNT 0"), got
    got = esort(m, "RETURN", "(MIN ALL)", "(SUBJECT)", "UTF-8", "ALL", uid=True)
    assert got.endswith(") UID MIN 3 ALL 3,5,2,4"), got
    with pytest.raises(imaplib.IMAP4.error):
        m._simple_command("SORT", "RETURN", "(SAVE BOGUS)", "(DATE)", "UTF-8", "ALL")
    assert m.noop()[0] == "OK"


def saved_uids(m):
    """The UIDs in "$" (the saved result), through UID SEARCH $."""
    typ, dat = m._simple_command("UID", "SEARCH", "$")
    assert typ == "OK", dat
    typ, dat = m._untagged_response(typ, dat, "SEARCH")
    return sorted(int(x) for x in (dat[0] or b"").split())


def test_esort_save(m):
    """ESORT RETURN (SAVE) (RFC 5267 with SEARCHRES, RFC 5182): "$" gets
    the matches; SAVE alone answers no ESEARCH; with MIN/MAX alone only
    the first/last in sort order are kept; a failing SORT empties it."""
    typ, dat = m._simple_command("SORT", "RETURN", "(SAVE)", "(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK", dat
    assert m._untagged_response(typ, dat, "ESEARCH")[1] == [None]
    assert saved_uids(m) == [2, 3, 4, 5]
    # DATE order is seq 4 1 2 3: MIN is seq 4 (UID 5), MAX seq 3 (UID 4)
    got = esort(m, "RETURN", "(SAVE MIN)", "(DATE)", "UTF-8", "ALL")
    assert got.endswith(") MIN 4"), got
    assert saved_uids(m) == [5]
    esort(m, "RETURN", "(SAVE MAX)", "(DATE)", "UTF-8", "ALL")
    assert saved_uids(m) == [4]
    esort(m, "RETURN", "(MIN SAVE MAX)", "(DATE)", "UTF-8", "ALL")
    assert saved_uids(m) == [4, 5]
    got = esort(m, "RETURN", "(SAVE ALL)", "(REVERSE ARRIVAL)", "UTF-8", "SUBJECT", "apple")
    assert got.endswith(") ALL 4,2"), got
    assert saved_uids(m) == [3, 5]
    # "$" is usable at once, also by FETCH
    typ, dat = m.fetch("$", "(UID)")
    assert typ == "OK" and len([d for d in dat if d]) == 2, dat
    with pytest.raises(imaplib.IMAP4.error):
        m._simple_command("SORT", "RETURN", "(SAVE)", "(BOGUS)", "UTF-8", "ALL")
    assert saved_uids(m) == []
    with pytest.raises(imaplib.IMAP4.error):
        m._simple_command("SORT", "RETURN", "(SAVE)", "(DATE)", "UTF-8", "NOSUCHKEY")
    assert saved_uids(m) == []


def test_cut_date_falls_back_to_internaldate(m):
    """A Date: cut inside its year ("Tue, 1 Jul 20" of a longer one) is not
    the obs-year 2020: it is invalid, and DATE uses the INTERNALDATE; a
    real two-digit year with its time of day still counts (RFC 5322 4.3)."""
    assert m.create("CutDates")[0] == "OK"
    msgs = [
        ("Date: Tue, 1 Jul 20\r\n", 5),                    # cut: 2024 internal
        ("Date: Fri, 1 Jan 2021 10:00:00 +0000\r\n", 6),
        ("Date: 1 Jul 99 10:00 +0000\r\n", 7),             # obs-year: 1999
        ("Date: Sat, 1 Jan 2022 10:00:00 +0000\r\n", 8),
        ("Date: Tue, 1 Jul 202\r\n", 1),                   # cut: internal, 2024 early
    ]
    try:
        for i, (hdr, hours) in enumerate(msgs):
            t = imaplib.Time2Internaldate(BASE + hours * 3600)
            body = ("Subject: d%d\r\n%s\r\nx\r\n" % (i, hdr)).encode()
            assert m.append("CutDates", None, t, body)[0] == "OK"
        assert m.select("CutDates")[0] == "OK"
        assert sort(m, "(DATE)") == [3, 2, 4, 5, 1]
        # SENTON: the cut dates are in no day, the obs-year one is
        typ, dat = m.search(None, "SENTON", "1-Jul-1999")
        assert typ == "OK" and dat[0].split() == [b"3"], dat
        typ, dat = m.search(None, "SENTON", "1-Jul-2020")
        assert typ == "OK" and dat[0].split() == [], dat
    finally:
        assert m.select("INBOX")[0] == "OK"


def test_unicode_case_folding(m):
    """Strings compare case-folded with the Unicode table, not ASCII
    only: "ΣΟΦΊΑ b" sorts after "σοφία a", "Émile" with "émile"."""
    assert m.create("Folding")[0] == "OK"
    subjects = ["=?utf-8?b?z4POv8+Gzq/OsSBh?=",   # σοφία a
                "=?utf-8?b?zqPOn86mzorOkSBi?=",   # ΣΟΦΊΑ b
                "=?utf-8?q?=C3=89mile_2?=",       # Émile 2
                "emile",
                "=?utf-8?q?=C3=A9mile_1?="]       # émile 1
    try:
        for i, subj in enumerate(subjects):
            t = imaplib.Time2Internaldate(BASE + i * 3600)
            body = ("Subject: %s\r\nFrom: x@x.org\r\n\r\nx\r\n" % subj).encode()
            assert m.append("Folding", None, t, body)[0] == "OK"
        assert m.select("Folding")[0] == "OK"
        # emile < émile 1 < Émile 2 < σοφία a < ΣΟΦΊΑ b
        assert sort(m, "(SUBJECT)") == [4, 5, 3, 1, 2]
        assert sort(m, "(REVERSE SUBJECT)") == [2, 1, 3, 5, 4]
    finally:
        assert m.select("INBOX")[0] == "OK"
