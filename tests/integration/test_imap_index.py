"""The search index written behind APPEND (imapd/indexer.c, issue 9): an
APPEND's OK follows the durable commit of the message, whose index rows
are written afterwards by loft-imapd's index thread; a SEARCH finds every
message whether its rows are written yet or not (messages still pending
are read and matched); marks left behind (a crash before the thread got
to them) are indexed at the next start; a store from before migration 15
(FTS5 trigram tables) is upgraded and searched correctly while it is
re-indexed.  The index only picks candidates: a message holding every
trigram of the query but not the query itself is not found.  imaplib and
a raw TLS session as clients."""
import os
import sqlite3
import time

from loft_imap_helpers import PASS, USER, ImapRaw, finish, imap_ssl, start_loft, tls_connect

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
            n = d.execute("SELECT count(*) FROM fts_docsize").fetchone()[0]
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
            # FTS5's record of the message's document (fts_docsize): the
            # index's own table needs the loft_trigram tokenizer, which
            # only Loft's handles have; its terms stay, which makes the
            # message a candidate as well, matched exactly all the same
            d.execute("DELETE FROM fts_docsize WHERE id = ?", (i,))
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


NEEDLE = "quaggaroo"


def decoy_msgs():
    """(message, found by TEXT quaggaroo?) pairs: decoys hold every trigram
    of the word in the body or the subject, but not the word."""
    out = []
    for i in range(40):
        body = "Filler %d about nothing much.\r\n" % i
        subj = "filler %d" % i
        found = False
        if i % 10 == 1:
            body += "A quagga garoo went by, and aroo.\r\n"  # decoy
        if i % 10 == 2:
            subj = "quagga garoo roo"  # decoy in the header
        if i % 10 == 3:
            body += "The QUAGGAROO is here.\r\n"
            found = True
        if i % 10 == 4:
            subj = "Re: Quaggaroo notes"
            found = True
        m = ("Subject: %s\r\nFrom: F <f%d@example.net>\r\n\r\n%s" % (subj, i, body)).encode()
        out.append((m, found))
    return out


def test_candidates_verified(tmp_path):
    """Trigrams all there, the word not: no match, pending or indexed; the
    same SEARCH sent one byte per TLS record."""
    lf = start_loft(tmp_path, {USER: PASS})
    try:
        msgs = decoy_msgs()
        want = [i + 1 for i, (_, f) in enumerate(msgs) if f]
        want_body = [i + 1 for i in range(len(msgs)) if i % 10 == 3]
        want_subj = [i + 1 for i in range(len(msgs)) if i % 10 == 4]
        c = imap_ssl(lf)
        c.select("INBOX")
        for m, _ in msgs:
            assert c.append("INBOX", None, None, m)[0] == "OK"
        c.noop()
        for rnd in range(2):
            assert search(c, "TEXT", NEEDLE) == want, rnd
            assert search(c, "BODY", NEEDLE) == want_body, rnd
            assert search(c, "SUBJECT", NEEDLE) == want_subj, rnd
            assert search(c, "BODY", '"quagga garoo"') == [i + 1 for i in range(len(msgs))
                                                         if i % 10 == 1], rnd
            assert search(c, "OR", "BODY", NEEDLE, "SUBJECT", NEEDLE) == want, rnd
            assert search(c, "NOT", "TEXT", NEEDLE) == [
                i + 1 for i in range(len(msgs)) if i + 1 not in want], rnd
            assert wait_indexed(lf), "index rows still pending"
        c.logout()
        # one byte per TLS record: the parser sees the command in pieces
        r = ImapRaw(tls_connect(lf.port("imaps")))
        script = b"s SELECT INBOX\r\nf UID SEARCH TEXT " + NEEDLE.encode() + b"\r\nz LOGOUT\r\n"
        for i in range(len(script)):
            r.send(script[i:i + 1])
        out = []
        try:
            while True:
                out.append(r.line())
        except EOFError:
            pass
        r.close()
        assert b"* SEARCH " + " ".join(str(u) for u in want).encode() in out, out
        assert any(l.startswith(b"f OK") for l in out), out
    finally:
        finish(lf)


# The migration before loft_trigram (lib/store/store.c): a store at this
# version has the FTS5 trigram tables fts and fts_hdr
VERSION_FTS = 14


def test_upgrade_from_fts_store(tmp_path):
    """A store from before migration 15: its FTS5 trigram tables give way to
    the loft_trigram index, every message is marked, a SEARCH reads them
    until the thread has indexed them, and an expunge takes their index
    rows along."""
    lf = start_loft(tmp_path, {USER: PASS})
    try:
        c = imap_ssl(lf)
        for i in range(N):
            assert c.append("INBOX", None, None, msg(i))[0] == "OK"
        assert wait_indexed(lf)
        c.logout()
    finally:
        finish(lf)
    d = db(lf)
    d.isolation_level = None
    # the new index out, by hand (dropping it the usual way needs the
    # loft_trigram tokenizer, which only Loft's handles have), and the
    # tables as migrations 1, 3, 10, 13 and 14 left them
    d.execute("BEGIN")
    d.execute("PRAGMA writable_schema = ON")
    d.execute("DELETE FROM sqlite_master WHERE type = 'table' AND name = 'fts'")
    d.execute("PRAGMA writable_schema = OFF")
    d.execute("COMMIT")
    d.close()
    d = db(lf)
    with d:
        d.executescript(
            "DROP TRIGGER messages_fts_del;"
            "DROP TABLE fts_data; DROP TABLE fts_idx; DROP TABLE fts_docsize;"
            "DROP TABLE fts_config; DROP TABLE fts_deleted;"
            "CREATE VIRTUAL TABLE fts USING fts5(subject, hfrom, hto, hcc, hbcc, body,"
            " tokenize='trigram');"
            "CREATE VIRTUAL TABLE fts_hdr USING fts5(header, tokenize='trigram');"
            "INSERT INTO fts(rowid, subject, body) SELECT id, 'x', CAST(raw AS TEXT)"
            " FROM messages;"
            "INSERT INTO fts_hdr(rowid, header) SELECT id, 'x' FROM messages;"
            "INSERT INTO fts(fts, rank) VALUES('automerge', 16);"
            "INSERT INTO fts(fts, rank) VALUES('crisismerge', 64);"
            "CREATE TRIGGER messages_fts_del AFTER DELETE ON messages BEGIN"
            " DELETE FROM fts WHERE rowid = OLD.id; END;"
            "CREATE TRIGGER messages_fts_hdr_del AFTER DELETE ON messages BEGIN"
            " DELETE FROM fts_hdr WHERE rowid = OLD.id; END;"
            "PRAGMA user_version = %d;" % VERSION_FTS)
    d.close()
    with open(os.path.join(lf.dir, "loft.conf"), "a") as f:
        f.write("imapd.deferred_index = 0\n")
    lf.start()
    try:
        c = imap_ssl(lf)
        c.select("INBOX")
        assert pending(lf) == N, "every message marked"
        check_searches(c)
        c.logout()
    finally:
        finish(lf)
    with open(os.path.join(lf.dir, "loft.conf"), "a") as f:
        f.write("imapd.deferred_index = 1\n")
    lf.start()
    try:
        assert wait_indexed(lf), "the thread did not index the upgraded store"
        c = imap_ssl(lf)
        c.select("INBOX")
        check_searches(c)
        # an expunge takes the signatures along
        c.store("1:5", "+FLAGS", "(\\Deleted)")
        c.expunge()
        c.logout()
    finally:
        finish(lf)
    d = db(lf)
    try:
        names = {r[0] for r in d.execute("SELECT name FROM sqlite_master")}
        assert "fts_hdr" not in names, names
        sql = d.execute("SELECT sql FROM sqlite_master WHERE name = 'fts'").fetchone()[0]
        assert "loft_trigram" in sql and "detail=none" in sql, sql
        # the expunged messages' raw bytes wait for a Loft handle to have
        # FTS5 delete their rows (this connection has no tokenizer)
        assert d.execute("SELECT count(*) FROM fts_deleted").fetchone()[0] == 5
        assert d.execute("SELECT count(*) FROM fts_docsize").fetchone()[0] == N
    finally:
        d.close()
    # the index thread does it at start
    lf.start()
    try:
        end = time.time() + 60
        while time.time() < end:
            d = db(lf)
            try:
                left = d.execute("SELECT count(*) FROM fts_deleted").fetchone()[0]
                docs = d.execute("SELECT count(*) FROM fts_docsize").fetchone()[0]
            finally:
                d.close()
            if left == 0:
                break
            time.sleep(0.1)
        assert (left, docs) == (0, N - 5)
        c = imap_ssl(lf)
        c.select("INBOX")
        typ, dat = c.search("UTF-8", "BODY", "xotical")
        assert sorted(int(x) for x in dat[0].split()) == sorted(i - 4 for i in RARE if i >= 5)
        c.logout()
    finally:
        finish(lf)
