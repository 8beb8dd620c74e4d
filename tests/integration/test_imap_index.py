"""The search index written behind APPEND (imapd/indexer.c, issue 9): an
APPEND's OK follows the durable commit of the message, whose index rows
are written afterwards by loft-imapd's index thread; a SEARCH finds every
message whether its rows are written yet or not (messages still pending
are read and matched); marks left behind (a crash before the thread got
to them) are indexed at the next start.  imaplib as the client."""
import os
import sqlite3
import time

from loft_imap_helpers import PASS, USER, finish, imap_ssl, start_loft

WORD = "Quixotically"
N = 90
RARE = {i for i in range(N) if i % 13 == 4}


def msg(i):
    body = "Line %d of a message about nothing.\r\n" % i
    if i in RARE:
        body += "The walrus sang %s, \xdcBER ALLES.\r\n" % WORD.upper()
    hdr = "Subject: note %d\r\nFrom: Sender %d <s%d@example.net>\r\n" % (i, i, i)
    hdr += "Content-Type: text/plain; charset=utf-8\r\n"
    return (hdr + "\r\n" + body).encode()


def db(lf):
    return sqlite3.connect(os.path.join(lf.dir, "loft.db"), timeout=10)


def pending(lf):
    d = db(lf)
    try:
        return d.execute("SELECT count(*) FROM fts_pending").fetchone()[0]
    finally:
        d.close()


def wait_indexed(lf, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if pending(lf) == 0:
            return True
        time.sleep(0.1)
    return False


def search(c, *keys):
    typ, dat = c.search("UTF-8", *keys)
    assert typ == "OK", dat
    return sorted(int(x) for x in dat[0].split())


def check_searches(c):
    want = sorted(i + 1 for i in RARE)
    # substring, other case, inside a word; TEXT; a non-ASCII fold; a
    # header field; a 2-character query
    assert search(c, "BODY", "xotical") == want
    assert search(c, "TEXT", WORD.lower()) == want
    c.literal = "\u00fcber".encode()
    assert search(c, "BODY") == want
    assert search(c, "FROM", "s13@example") == [14]
    assert search(c, "SUBJECT", '"note 7"') == sorted(
        i + 1 for i in range(N) if ("note %d" % i).startswith("note 7"))
    assert search(c, "BODY", "WA") == want  # "walrus": the short query scan
    assert search(c, "BODY", "nosuchthing") == []


def test_search_finds_pending_and_indexed(tmp_path):
    lf = start_loft(tmp_path, {USER: PASS})
    try:
        c = imap_ssl(lf)
        c.select("INBOX")
        for i in range(N):
            typ, dat = c.append("INBOX", None, None, msg(i))
            assert typ == "OK", dat
        # right after the APPENDs: whatever the index thread has done yet
        c.noop()
        check_searches(c)
        assert wait_indexed(lf), "index rows still pending"
        check_searches(c)
        d = db(lf)
        try:
            n = d.execute("SELECT count(*) FROM fts").fetchone()[0]
        finally:
            d.close()
        assert n == N
        c.logout()
    finally:
        finish(lf)


def test_marks_left_by_a_crash(tmp_path):
    """Messages whose index rows were never written (the process died
    after the commit): searched by reading them while the thread is off,
    then indexed by the thread at the next start."""
    lf = start_loft(tmp_path, {USER: PASS})
    try:
        c = imap_ssl(lf)
        for i in range(N):
            assert c.append("INBOX", None, None, msg(i))[0] == "OK"
        assert wait_indexed(lf)
        c.logout()
    finally:
        finish(lf)
    # as if loft-imapd had died before indexing every other message
    d = db(lf)
    with d:
        ids = [r[0] for r in d.execute("SELECT id FROM messages ORDER BY id")][::2]
        for i in ids:
            d.execute("DELETE FROM fts WHERE rowid = ?", (i,))
            d.execute("DELETE FROM fts_hdr WHERE rowid = ?", (i,))
            d.execute("INSERT INTO fts_pending(message_id) VALUES(?)", (i,))
    d.close()
    assert pending(lf) == len(ids)
    # without the thread the marks stay, and SEARCH reads those messages
    with open(os.path.join(lf.dir, "loft.conf"), "a") as f:
        f.write("imapd.deferred_index = 0\n")
    lf.start()
    try:
        c = imap_ssl(lf)
        c.select("INBOX")
        check_searches(c)
        assert pending(lf) == len(ids)
        c.logout()
    finally:
        finish(lf)
    with open(os.path.join(lf.dir, "loft.conf"), "a") as f:
        f.write("imapd.deferred_index = 1\n")
    lf.start()
    try:
        assert wait_indexed(lf), "the thread did not index the marks at start"
        c = imap_ssl(lf)
        c.select("INBOX")
        check_searches(c)
        c.logout()
    finally:
        finish(lf)
