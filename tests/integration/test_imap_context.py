"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 4) on a real loftd, spoken by
hand over TLS and by imaplib from a second session: SEARCH and SORT RETURN
(UPDATE) and their ADDTO/REMOVEFROM updates (with positions in sort order
for SORT) as other sessions append, store and expunge, CANCELUPDATE,
NOUPDATE past the limit, and PARTIAL for SEARCH and SORT."""
import re

import pytest

from loft_imap_helpers import PASS, USER, ImapRaw, finish, imap_ssl, start_loft, tls_connect


def msg(i):
    return ("Subject: s%02d\r\nFrom: a@example.org\r\n\r\nbody %d\r\n" % (i, i)).encode()


@pytest.fixture
def lf(tmp_path):
    lf = start_loft(tmp_path, {USER: PASS})
    other = imap_ssl(lf)
    for i in range(1, 7):
        # 1-3 seen, 4-6 not
        assert other.append("INBOX", r"(\Seen)" if i <= 3 else None, None, msg(i))[0] == "OK"
    other.logout()
    yield lf
    finish(lf)


def raw(lf):
    r = ImapRaw(tls_connect(lf.port("imaps")))
    assert r.cmd(b"s SELECT INBOX")[-1].startswith(b"s OK")
    return r


def esearch(lines, tag):
    """The ESEARCH lines for tag (its quoted form) among lines."""
    return [l.decode() for l in lines if l.startswith(b'* ESEARCH (TAG "%s")' % tag)]


def test_capability(lf):
    r = raw(lf)
    caps = r.cmd(b"c CAPABILITY")[0].decode().split()
    assert "CONTEXT=SEARCH" in caps and "ESEARCH" in caps
    assert "CONTEXT=SORT" in caps and "ESORT" in caps


def test_partial(lf):
    r = raw(lf)
    out = r.cmd(b"p1 SEARCH RETURN (PARTIAL 2:4) ALL")
    assert out[-1].startswith(b"p1 OK") and esearch(out, b"p1")[0].endswith(
        " PARTIAL (2:4 2:4)"), out
    out = r.cmd(b"p2 UID SEARCH RETURN (COUNT PARTIAL 3:2) UNSEEN")
    assert esearch(out, b"p2")[0].endswith(" UID COUNT 3 PARTIAL (2:3 5:6)"), out
    out = r.cmd(b"p3 SEARCH RETURN (PARTIAL 7:9) ALL")
    assert esearch(out, b"p3")[0].endswith(" PARTIAL (7:9 NIL)"), out
    # in sort order: SUBJECT s06 s05 s04 ... reversed
    out = r.cmd(b"p4 SORT RETURN (PARTIAL 1:2) (REVERSE SUBJECT) UTF-8 ALL")
    assert esearch(out, b"p4")[0].endswith(" PARTIAL (1:2 6,5)"), out
    for bad in (b"SEARCH RETURN (PARTIAL 1:2 ALL) ALL", b"SEARCH RETURN (PARTIAL 0:2) ALL",
                b"SEARCH RETURN (PARTIAL) ALL", b"SEARCH RETURN (PARTIAL x) ALL",
                b"SEARCH RETURN (UPDATE UPDATE) ALL"):
        out = r.cmd(b"b " + bad)
        assert out[-1].startswith(b"b BAD"), (bad, out)
    assert r.cmd(b"n NOOP")[-1].startswith(b"n OK")


def test_updates(lf):
    r = raw(lf)
    other = imap_ssl(lf)
    assert other.select("INBOX")[0] == "OK"
    out = r.cmd(b"u1 SEARCH RETURN (UPDATE) UNSEEN")
    assert out[-1].startswith(b"u1 OK")
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1")'], out
    out = r.cmd(b"u2 UID SEARCH RETURN (ALL UPDATE) UNSEEN")
    assert esearch(out, b"u2") == ['* ESEARCH (TAG "u2") UID ALL 4:6'], out
    # nothing changed: no update
    out = r.cmd(b"n1 NOOP")
    assert not esearch(out, b"u1") and not esearch(out, b"u2"), out

    # another session appends an unseen and a seen message
    assert other.append("INBOX", None, None, msg(7))[0] == "OK"
    assert other.append("INBOX", r"(\Seen)", None, msg(8))[0] == "OK"
    out = r.cmd(b"n2 NOOP")
    assert b"* 8 EXISTS" in out, out
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") ADDTO (0 7)'], out
    assert esearch(out, b"u2") == ['* ESEARCH (TAG "u2") UID ADDTO (0 7)'], out
    assert out.index(b"* 8 EXISTS") < out.index(b'* ESEARCH (TAG "u1") ADDTO (0 7)')

    # this session marks 4 seen: reported at the next full sync
    r.cmd(b"st STORE 4 +FLAGS.SILENT (\\Seen)")
    out = r.cmd(b"n3 NOOP")
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") REMOVEFROM (0 4)'], out
    assert esearch(out, b"u2") == ['* ESEARCH (TAG "u2") UID REMOVEFROM (0 4)'], out

    # the other session unmarks 1 and expunges 5 (unseen): the expunge is
    # told by EXPUNGE alone, the new match by ADDTO with the new numbers
    assert other.store("1", "-FLAGS", r"(\Seen)")[0] == "OK"
    assert other.store("5", "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert other.expunge()[0] == "OK"
    out = r.cmd(b"n4 NOOP")
    assert b"* 5 EXPUNGE" in out, out
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") ADDTO (0 1)'], out
    assert esearch(out, b"u2") == ['* ESEARCH (TAG "u2") UID ADDTO (0 1)'], out
    # where the result now is: 1, 6 (was 6), 7 (was 7) as UIDs; seqs 1, 5, 6
    out = r.cmd(b"a1 SEARCH RETURN (ALL) UNSEEN")
    assert esearch(out, b"a1")[0].endswith(" ALL 1,5:6"), out

    # CANCELUPDATE: unknown tags refuse the whole command
    out = r.cmd(b'c1 CANCELUPDATE "u1" "nosuch"')
    assert out[-1].startswith(b"c1 NO"), out
    assert r.cmd(b'c2 CANCELUPDATE "u1"')[-1].startswith(b"c2 OK")
    assert other.append("INBOX", None, None, msg(9))[0] == "OK"
    out = r.cmd(b"n5 NOOP")
    assert not esearch(out, b"u1"), out
    assert esearch(out, b"u2") == ['* ESEARCH (TAG "u2") UID ADDTO (0 9)'], out
    assert r.cmd(b"c3 CANCELUPDATE u2")[-1].startswith(b"c3 BAD")
    assert r.cmd(b'c4 CANCELUPDATE "u2"')[-1].startswith(b"c4 OK")
    # updates end with the selection
    r.cmd(b"u3 SEARCH RETURN (UPDATE) UNSEEN")
    assert r.cmd(b"x UNSELECT")[-1].startswith(b"x OK")
    assert r.cmd(b"s2 SELECT INBOX")[-1].startswith(b"s2 OK")
    assert other.append("INBOX", None, None, msg(10))[0] == "OK"
    out = r.cmd(b"n6 NOOP")
    assert not [l for l in out if l.startswith(b"* ESEARCH")], out
    other.logout()


def test_limits_and_sort(lf):
    r = raw(lf)
    for i in range(10):
        out = r.cmd(b"k%d SEARCH RETURN (UPDATE) UNSEEN" % i)
        assert out[-1].startswith(b"k%d OK" % i) and not any(b"NOUPDATE" in l for l in out)
    out = r.cmd(b"k10 SEARCH RETURN (UPDATE COUNT) UNSEEN")
    assert b'* NO [NOUPDATE "k10"] Too many or duplicate search updates' in out, out
    assert esearch(out, b"k10")[0].endswith(" COUNT 3") and out[-1].startswith(b"k10 OK")
    out = r.cmd(b"k0 SEARCH RETURN (UPDATE) ALL")
    assert any(l.startswith(b'* NO [NOUPDATE "k0"]') for l in out), out
    # the limit counts SORT's updates too
    out = r.cmd(b"so SORT RETURN (UPDATE COUNT) (SUBJECT) UTF-8 ALL")
    assert any(l.startswith(b'* NO [NOUPDATE "so"]') for l in out), out
    assert esearch(out, b"so")[0].endswith(" COUNT 6") and out[-1].startswith(b"so OK"), out
    # one update per tag: the first ten still report
    other = imap_ssl(lf)
    assert other.append("INBOX", None, None, msg(7))[0] == "OK"
    other.logout()
    out = r.cmd(b"n NOOP")
    got = sorted(re.match(rb'\* ESEARCH \(TAG "(k\d+)"\) ADDTO \(0 7\)', l).group(1)
                 for l in out if l.startswith(b"* ESEARCH"))
    assert got == sorted(b"k%d" % i for i in range(10)), out


def test_sort_updates(lf):
    """UID SORT RETURN (UPDATE ALL): the matches in sort order, then at each
    sync REMOVEFROM/ADDTO with positions (RFC 5267 4.3): a removal at its
    position in the list as the removals before it left it, an addition at
    its position in the new list; an expunged message goes without a word."""
    r = raw(lf)
    out = r.cmd(b"u1 UID SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 UNSEEN")
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") UID ALL 6,5,4'], out
    other = imap_ssl(lf)
    assert other.select("INBOX")[0] == "OK"
    # s07 sorts first in REVERSE SUBJECT
    assert other.append("INBOX", None, None, msg(7))[0] == "OK"
    out = r.cmd(b"n1 NOOP")
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") UID ADDTO (1 7)'], out
    assert other.uid("STORE", "5", "+FLAGS", r"(\Seen)")[0] == "OK"
    out = r.cmd(b"n2 NOOP")
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") UID REMOVEFROM (3 5)'], out
    # s00 sorts last: [7, 6, 4, 8]
    assert other.append("INBOX", None, None, msg(0))[0] == "OK"
    out = r.cmd(b"n3 NOOP")
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") UID ADDTO (4 8)'], out
    # one sync, one out and one in: [6, 5, 4, 8]
    assert other.uid("STORE", "7", "+FLAGS", r"(\Seen)")[0] == "OK"
    assert other.uid("STORE", "5", "-FLAGS", r"(\Seen)")[0] == "OK"
    out = r.cmd(b"n4 NOOP")
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") UID REMOVEFROM (1 7) ADDTO (2 5)'], out
    # two out: each position counts the removal before it: [4, 8]
    assert other.uid("STORE", "5:6", "+FLAGS", r"(\Seen)")[0] == "OK"
    out = r.cmd(b"n5 NOOP")
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") UID REMOVEFROM (1 6 1 5)'], out
    # an expunged match: EXPUNGE, no REMOVEFROM
    assert other.uid("STORE", "4", "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert other.expunge()[0] == "OK"
    out = r.cmd(b"n6 NOOP")
    assert any(l.endswith(b" EXPUNGE") for l in out), out
    assert esearch(out, b"u1") == [], out
    # the list is [8] now: a new s09 goes first
    assert other.append("INBOX", None, None, msg(9))[0] == "OK"
    out = r.cmd(b"n7 NOOP")
    assert esearch(out, b"u1") == ['* ESEARCH (TAG "u1") UID ADDTO (1 9)'], out
    assert r.cmd(b'c CANCELUPDATE "u1"')[-1].startswith(b"c OK")
    assert other.append("INBOX", None, None, msg(11))[0] == "OK"
    out = r.cmd(b"n8 NOOP")
    assert esearch(out, b"u1") == [], out
    other.logout()


def test_sort_updates_seq(lf):
    """SORT (not UID SORT) RETURN (UPDATE): sequence numbers, and the
    positions of SORT (SUBJECT) after an append; the whole session also
    fed one byte per TLS record gives the same lines."""
    script = (b"s SELECT INBOX\r\n"
              b"u2 SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNSEEN\r\n")
    r = ImapRaw(tls_connect(lf.port("imaps")))
    for i in range(len(script)):
        r.send(script[i:i + 1])
    out = r.until_tag(b"s") + r.until_tag(b"u2")
    assert out[-1].startswith(b"u2 OK"), out
    other = imap_ssl(lf)
    # s00: first by SUBJECT; sequence number 7
    assert other.append("INBOX", None, None, msg(0))[0] == "OK"
    out = r.cmd(b"n1 NOOP")
    assert b"* 7 EXISTS" in out, out
    assert esearch(out, b"u2") == ['* ESEARCH (TAG "u2") ADDTO (1 7)'], out
    other.logout()
