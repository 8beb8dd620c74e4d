"""Issue 9: the answers an IMAP compliance suite expects, one test per
numbered item (SEARCH on decoded substrings, new keywords announced, long
legal commands, atom-special mailbox names, sections inside an attached
message, UID ranges to 2^32-1).  Real loftd --dev with loft-imapd; clients
are imaplib and raw sockets (what imaplib will not send)."""
import base64
import email
import email.policy
import imaplib
import re

import pytest

from loft_imap_helpers import PASS, USER, ImapRaw, imap_ssl, running_loft, tls_connect


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    yield from running_loft(tmp_path_factory.mktemp("imapcompl"), {USER: PASS})


class Raw(ImapRaw):
    def __init__(self, loft, login=True):
        super().__init__(tls_connect(loft.port("imaps")), login)


def mkmsg(hdrs, body):
    return ("".join("%s\r\n" % h for h in hdrs) + "\r\n" + body).encode()


def fresh(m, name, msgs):
    """Creates mailbox name holding msgs (bytes) and selects it."""
    assert m.create(name)[0] == "OK"
    for b in msgs:
        assert m.append(name, None, None, b)[0] == "OK"
    typ, data = m.select(name)
    assert typ == "OK" and data == [str(len(msgs)).encode()]


def search(m, *keys):
    typ, data = m.search(None, *keys)
    assert typ == "OK", keys
    return [int(x) for x in data[0].split()]


# --- 1. SEARCH is a case-insensitive substring search on decoded text ------

ADDR_FROMS = [
    "From: user-from@domain.org",
    "From: Real From <user-from@domain.org>",
    "From: \"Real From\" <USER-FROM@DOMAIN.ORG>",
    "From: <user-from (comment)@ (comment) domain.org>",
    "From: user-from (Real From) @ domain.org",
    "From: =?utf-8?q?R=C3=A9al_From?= <user-from@domain.org>",
    "From: other@domain.org",
]


def test_search_substring_decoded(loft):
    m = imap_ssl(loft)
    qp = mkmsg(["From: a@x.org", "Subject: qp", "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=iso-8859-1",
                "Content-Transfer-Encoding: quoted-printable"],
               "caf=E9 au lait qwerty=\r\nuiop end\r\n")
    b64 = mkmsg(["From: a@x.org", "Subject: b64", "MIME-Version: 1.0",
                 "Content-Type: text/plain; charset=utf-8",
                 "Content-Transfer-Encoding: base64"],
                base64.b64encode("Grüße aus Köln, zyxwvutsr\r\n".encode()).decode() + "\r\n")
    enc = mkmsg(["From: a@x.org", "Subject: =?iso-8859-1?q?Gr=FC=DFe_vom_Stra=DFenfest?=",
                 "X-Tracking: marmalade-42"], "plain body\r\n")
    plain = mkmsg(["From: a@x.org", "Subject: plain", "To: b@x.org"],
                  "qwertyuiop is a keyboard row\r\n")
    fresh(m, "S1", [qp, b64, enc, plain])
    assert search(m, "BODY", "wertyuio") == [1, 4]
    assert search(m, "BODY", "WERTYUIO") == [1, 4]
    assert search(m, "TEXT", "ertyu") == [1, 4]
    m.literal = "CAFÉ".encode()
    assert search(m, "CHARSET", "UTF-8", "BODY") == [1]
    m.literal = "köln".encode()
    assert search(m, "CHARSET", "UTF-8", "BODY") == [2]
    assert search(m, "BODY", "yxwvuts") == [2]
    m.literal = "straßen".encode()
    assert search(m, "CHARSET", "UTF-8", "SUBJECT") == [3]
    # TEXT covers every header field, not only the indexed five
    assert search(m, "TEXT", "armalade-4") == [3]
    assert search(m, "TEXT", "x-tracking") == [3]
    assert search(m, "BODY", "marmalade") == []
    # BODY is the body only; TEXT is header and body
    assert search(m, "BODY", "a@x.org") == []
    assert search(m, "TEXT", "a@x.org") == [1, 2, 3, 4]
    assert search(m, "BODY", "subject") == []
    # under 3 characters: the scan still answers
    assert search(m, "BODY", "iop") == [1, 4]
    assert search(m, "BODY", "op") == [1, 4]
    assert search(m, "SUBJECT", "b6") == [2]
    m.logout()


def test_search_addresses(loft):
    m = imap_ssl(loft)
    msgs = [mkmsg([f, "To: Real To <user-to@domain.org>", "Subject: a%d" % i,
                   "Cc: =?utf-8?q?Z=C3=BCrich?= <cc@domain.org>"], "x\r\n")
            for i, f in enumerate(ADDR_FROMS)]
    fresh(m, "S2", msgs)
    assert search(m, "FROM", "user-from@domain.org") == [1, 2, 3, 4, 5, 6]
    assert search(m, "FROM", "ser-from@domai") == [1, 2, 3, 4, 5, 6]
    assert search(m, "FROM", "\"real from\"") == [2, 3, 5]
    m.literal = "Réal".encode()
    assert search(m, "CHARSET", "UTF-8", "FROM") == [6]
    assert search(m, "TO", "user-to@domain.org") == [1, 2, 3, 4, 5, 6, 7]
    assert search(m, "TO", "\"real to\"") == [1, 2, 3, 4, 5, 6, 7]
    m.literal = "zürich".encode()
    assert search(m, "CHARSET", "UTF-8", "CC") == [1, 2, 3, 4, 5, 6, 7]
    assert search(m, "FROM", "other@") == [7]
    assert search(m, "FROM", "to@") == []
    m.logout()


# --- 2. new keywords are announced before a FETCH shows them --------------

def flags_of(line):
    mm = re.search(rb"FLAGS \(([^)]*)\)", line)
    return set(mm.group(1).split()) if mm else None


def check_announced(lines, known):
    """Every keyword a FETCH FLAGS shows was in the last FLAGS before it;
    returns the flags known at the end."""
    for l in lines:
        if l.startswith(b"* FLAGS "):
            known = flags_of(l)
        elif re.match(rb"\* OK \[PERMANENTFLAGS", l):
            continue
        elif re.match(rb"\* \d+ FETCH", l):
            f = flags_of(l)
            if f is not None:
                extra = {x for x in f if not x.startswith(b"\\")} - known
                assert not extra, (extra, lines)
    return known


def test_new_keyword_announced(loft):
    m = imap_ssl(loft)
    fresh(m, "K1", [mkmsg(["Subject: k"], "x\r\n")])
    a, b = Raw(loft), Raw(loft)
    out = a.cmd(b"s SELECT K1")
    known = check_announced(out, set())
    assert b"$Fresh1" not in known
    b.cmd(b"s SELECT K1")
    # b stores a new keyword: b itself and a (on NOOP) see FLAGS first
    out = b.cmd(b"t STORE 1 +FLAGS ($Fresh1)")
    assert out[-1].startswith(b"t OK")
    assert any(l.startswith(b"* FLAGS ") and b"$Fresh1" in l for l in out), out
    assert any(l.startswith(b"* OK [PERMANENTFLAGS") and b"$Fresh1" in l for l in out), out
    check_announced(out, set())
    out = a.cmd(b"n NOOP")
    assert any(l.startswith(b"* FLAGS ") and b"$Fresh1" in l for l in out), out
    known = check_announced(out, known)
    # APPEND with a new keyword: the other session learns it too
    m.append("K1", "($Fresh2)", None, mkmsg(["Subject: k2"], "y\r\n"))
    out = a.cmd(b"f FETCH 1:* FLAGS")
    known = check_announced(out, known)
    assert b"$Fresh2" in known, out
    # a session selecting later gets it in its SELECT FLAGS
    c = Raw(loft)
    out = c.cmd(b"s EXAMINE K1")
    assert b"$Fresh1" in flags_of([l for l in out if l.startswith(b"* FLAGS")][0])
    for r in (a, b, c):
        r.close()
    m.logout()


# --- 3. long but legal commands -------------------------------------------

def id_command(tag, pairs, vlen):
    args = " ".join('"field%02d" "%s"' % (i, ("v%d" % i) * (vlen // 3) + "x" * (vlen - len(("v%d" % i) * (vlen // 3))))
                    for i in range(pairs))
    return ("%s ID (%s)" % (tag, args)).encode()


@pytest.mark.parametrize("login", [False, True])
def test_id_thirty_pairs(loft, login):
    r = Raw(loft, login=login)
    line = id_command("i", 30, 1024)
    assert len(line) > 30 * 1024
    out = r.cmd(line)
    assert out[-1].startswith(b"i OK"), out[-1][:200]
    assert any(l.startswith(b"* ID ") for l in out)
    # the session goes on
    assert r.cmd(b"c CAPABILITY")[-1].startswith(b"c OK")
    r.close()


def test_overlong_line_bad_session_goes_on(loft):
    r = Raw(loft, login=True)
    out = r.cmd(b"x NOOP " + b"a" * (200 * 1024))
    assert b"BAD" in out[-1]
    assert r.cmd(b"y NOOP")[-1].startswith(b"y OK")
    r.close()
    r = Raw(loft, login=False)
    out = r.cmd(b"x CAPABILITY " + b"a" * (100 * 1024))
    assert b"BAD" in out[-1]
    assert r.cmd(b"y CAPABILITY")[-1].startswith(b"y OK")
    r.close()


# --- 4. mailbox names made of atom-specials ---------------------------------

ODD = b"!#$&'+,-.:;<=>?@^_`|}"


def test_atom_special_names(loft):
    r = Raw(loft)
    assert r.cmd(b"a SELECT " + ODD)[-1].startswith(b"a NO")
    assert r.cmd(b'b SELECT "' + ODD + b'"')[-1].startswith(b"b NO")
    assert r.cmd(b"c EXAMINE " + ODD + b"x")[-1].startswith(b"c NO")
    assert r.cmd(b"d STATUS " + ODD + b" (MESSAGES)")[-1].startswith(b"d NO")
    out = r.cmd(b'e LIST "" ' + ODD)
    assert out[-1].startswith(b"e OK"), out
    out = r.cmd(b'f LIST "" "' + ODD + b'*"')
    assert out[-1].startswith(b"f OK"), out
    # "&'" is not modified UTF-7: CREATE says NO; without "&" the name
    # works once created
    assert r.cmd(b"g CREATE " + ODD)[-1].startswith(b"g NO")
    name = ODD.replace(b"&", b"")
    assert r.cmd(b"g CREATE " + name)[-1].startswith(b"g OK")
    out = r.cmd(b'h LIST "" ' + name)
    assert out[-1].startswith(b"h OK") and len(out) == 2, out
    assert r.cmd(b"i SELECT " + name)[-1].startswith(b"i OK")
    assert r.cmd(b"j DELETE " + name)[-1].startswith(b"j OK")
    assert r.cmd(b"k NOOP")[-1].startswith(b"k OK")
    r.close()


# --- 5. sections inside an attached message ---------------------------------

INNER1 = ("From: one@x.org\r\nSubject: inner one\r\n\r\nfirst inner body\r\n")
INNER2 = ("From: two@x.org\r\nSubject: inner two\r\nMIME-Version: 1.0\r\n"
          "Content-Type: multipart/alternative; boundary=\"in2\"\r\n\r\n"
          "--in2\r\nContent-Type: text/plain\r\n\r\nalt plain\r\n"
          "--in2\r\nContent-Type: text/html\r\n\r\n<p>alt html</p>\r\n--in2--\r\n")


def nested_message():
    """multipart/mixed: 1 = multipart/mixed (1.1, 1.2 message/rfc822),
    2 = message/rfc822 holding a multipart with a message/rfc822 at 2.2."""
    return ("From: top@x.org\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"top\"\r\n\r\n"
            "--top\r\nContent-Type: multipart/mixed; boundary=\"mid\"\r\n\r\n"
            "--mid\r\nContent-Type: message/rfc822\r\n\r\n" + INNER1 +
            "--mid\r\nContent-Type: message/rfc822\r\n\r\n" + INNER2 +
            "--mid--\r\n"
            "--top\r\nContent-Type: message/rfc822\r\n\r\n"
            "From: wrap@x.org\r\nSubject: wrapper\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"w\"\r\n\r\n"
            "--w\r\nContent-Type: text/plain\r\n\r\nwrapper text\r\n"
            "--w\r\nContent-Type: message/rfc822\r\n\r\n" + INNER1 +
            "--w--\r\n"
            "--top--\r\n").encode()


def fetch_one(m, item):
    typ, data = m.fetch("1", "(%s)" % item)
    assert typ == "OK", item
    for d in data:
        if isinstance(d, tuple):
            return d[1]
    raise AssertionError((item, data))


def test_sections_in_attached_message(loft):
    m = imap_ssl(loft)
    fresh(m, "N1", [nested_message()])
    h11 = fetch_one(m, "BODY.PEEK[1.1.HEADER]")
    assert h11 == b"From: one@x.org\r\nSubject: inner one\r\n\r\n"
    assert fetch_one(m, "BODY.PEEK[1.1.TEXT]") == b"first inner body"
    h12 = fetch_one(m, "BODY.PEEK[1.2.HEADER]")
    assert h12.startswith(b"From: two@x.org\r\nSubject: inner two\r\n") and h12.endswith(b"\r\n\r\n")
    assert fetch_one(m, "BODY.PEEK[1.2.1]") == b"alt plain"
    assert fetch_one(m, "BODY.PEEK[1.2.2.MIME]") == b"Content-Type: text/html\r\n\r\n"
    assert fetch_one(m, "BODY.PEEK[1.2.HEADER.FIELDS (Subject)]") == b"Subject: inner two\r\n\r\n"
    assert fetch_one(m, "BODY.PEEK[2.HEADER]").startswith(b"From: wrap@x.org")
    assert fetch_one(m, "BODY.PEEK[2.1]") == b"wrapper text"
    assert fetch_one(m, "BODY.PEEK[2.2.HEADER]") == b"From: one@x.org\r\nSubject: inner one\r\n\r\n"
    assert fetch_one(m, "BODY.PEEK[2.2.TEXT]") == b"first inner body"
    assert fetch_one(m, "BODY.PEEK[2.2.1]") == b"first inner body"
    # the same bytes Python's email package finds there
    top = email.message_from_bytes(nested_message(), policy=email.policy.compat32)
    inner = top.get_payload(0).get_payload(1).get_payload(0)
    assert inner["Subject"] == "inner two"
    m.logout()


# --- 8. UID ranges up to 4294967295 -----------------------------------------

def test_uid_range_max(loft):
    m = imap_ssl(loft)
    fresh(m, "U1", [mkmsg(["Subject: u%d" % i], "x\r\n") for i in range(3)])
    typ, data = m.uid("SEARCH", "UID", "1:4294967295")
    assert typ == "OK" and data == [b"1 2 3"]
    typ, data = m.uid("SEARCH", "UID", "4294967295")
    assert typ == "OK" and data == [b""]
    typ, data = m.uid("SEARCH", "UID", "4294967295:*")
    assert typ == "OK" and data == [b"3"]  # "*" is the last UID
    typ, data = m.uid("FETCH", "2:4294967295", "(FLAGS)")
    assert typ == "OK" and len(data) == 2
    r = Raw(loft)
    r.cmd(b"s SELECT U1")
    assert r.cmd(b"a UID SEARCH UID 1:4294967296")[-1].startswith(b"a BAD")
    assert r.cmd(b"b UID SEARCH UID 0:1")[-1].startswith(b"b BAD")
    assert r.cmd(b"c SEARCH 1:4294967295")[-1].startswith(b"c OK")
    r.close()
    m.logout()


# --- 2 (continued): many sessions, one mailbox ------------------------------

class Tracker:
    """One session's view, kept from what the server told it: message
    count, each message's flags by sequence number, the FLAGS it was
    given; every response is checked against it as it comes."""

    def __init__(self, raw, name):
        self.r, self.name = raw, name
        self.known, self.msgs, self.errors = set(), [], []
        self.select()

    def select(self):
        self.feed(self.r.cmd(b"s SELECT " + self.name))

    def feed(self, lines):
        for l in lines:
            mm = re.match(rb"\* (\d+) (EXISTS|EXPUNGE|FETCH)(.*)", l)
            if l.startswith(b"* FLAGS "):
                self.known = flags_of(l)
            elif mm and mm.group(2) == b"EXISTS":
                n = int(mm.group(1))
                if n < len(self.msgs):
                    self.errors.append(("EXISTS shrank", l))
                self.msgs += [None] * (n - len(self.msgs))
            elif mm and mm.group(2) == b"EXPUNGE":
                n = int(mm.group(1))
                if not 1 <= n <= len(self.msgs):
                    self.errors.append(("unknown sequence number", l))
                else:
                    del self.msgs[n - 1]
            elif mm:
                n = int(mm.group(1))
                if not 1 <= n <= len(self.msgs):
                    self.errors.append(("unknown sequence number", l))
                    continue
                f = flags_of(l)
                if f is not None:
                    f.discard(b"\\Recent")
                    extra = {x for x in f if not x.startswith(b"\\")} - self.known
                    if extra:
                        self.errors.append(("keyword without FLAGS", extra, l))
                    self.msgs[n - 1] = f
        return lines

    def cmd(self, line):
        out = self.feed(self.r.cmd(line))
        assert out[-1].split(b" ")[1] == b"OK", (line, out[-1])
        return out


def worker(loft, name, seed, rounds, trackers):
    import random
    rnd = random.Random(seed)
    t = Tracker(Raw(loft), name)
    trackers.append(t)
    for i in range(rounds):
        op = rnd.random()
        n = len(t.msgs)
        if op < 0.35 and n:
            kw = b"$k%d_%d" % (seed, rnd.randrange(8))
            t.cmd(b"t STORE %d +FLAGS (%s)" % (rnd.randrange(1, n + 1), kw))
        elif op < 0.45 and n:
            seq, kw = rnd.randrange(1, n + 1), b"$s%d_%d" % (seed, i)
            t.cmd(b"t STORE %d FLAGS.SILENT (\\Seen %s)" % (seq, kw))
            # its own silent change is not reported back: it knows it
            t.msgs[seq - 1] = {b"\\Seen", kw}
        elif op < 0.55 and n > 5:
            t.cmd(b"d STORE %d +FLAGS.SILENT (\\Deleted)" % rnd.randrange(1, n + 1))
            t.cmd(b"e EXPUNGE")
        elif op < 0.7:
            body = b"Subject: s%d-%d\r\n\r\nx\r\n" % (seed, i)
            t.cmd(b"a APPEND " + name + b" ($a%d_%d) {%d+}\r\n" % (seed, i, len(body)) + body)
        elif op < 0.9 and n:
            t.cmd(b"f FETCH 1:* (UID FLAGS)")
        else:
            t.cmd(b"n NOOP")


def test_many_sessions_consistent(loft):
    import threading
    m = imap_ssl(loft)
    fresh(m, "MS", [mkmsg(["Subject: m%d" % i], "x\r\n") for i in range(15)])
    trackers, threads = [], []
    for seed in range(6):
        th = threading.Thread(target=worker, args=(loft, b"MS", seed + 1, 60, trackers))
        th.start()
        threads.append(th)
    for th in threads:
        th.join(120)
        assert not th.is_alive()
    assert len(trackers) == 6
    # the server's view, from a session that selects now
    truth = Tracker(Raw(loft), b"MS")
    truth.cmd(b"f FETCH 1:* (FLAGS)")
    assert None not in truth.msgs
    for t in trackers:
        t.cmd(b"n NOOP")
        assert not t.errors, t.errors[:5]
        assert len(t.msgs) == len(truth.msgs)
        for i, f in enumerate(t.msgs):
            # every flag change after the session last saw a message was
            # reported to it: no lost flags
            assert f is None or f == truth.msgs[i], (i, f, truth.msgs[i])
        t.cmd(b"f FETCH 1:* (FLAGS)")
        assert t.msgs == truth.msgs and not t.errors
        t.r.close()
    truth.r.close()
    m.logout()


# --- 6. LIST-EXTENDED (RFC 5258) --------------------------------------------

def test_list_extended(loft):
    r = Raw(loft)
    for name in (b"LX", b"LX/a", b"LX/a/deep", b"LX/b", b"LZ/q/r"):
        assert r.cmd(b"c CREATE " + name)[-1].startswith(b"c OK")
    for name in (b"LX/a/deep", b"LX/b", b"LZ/q/r"):
        assert r.cmd(b"s SUBSCRIBE " + name)[-1].startswith(b"s OK")
    # RECURSIVEMATCH alone is an error (RFC 5258 3)
    assert r.cmd(b'a LIST (RECURSIVEMATCH) "" "*"')[-1].startswith(b"a BAD")
    assert r.cmd(b'a LIST (RECURSIVEMATCH REMOTE) "" "*"')[-1].startswith(b"a BAD")
    out = r.cmd(b'b LIST (SUBSCRIBED) "" "L*"')
    assert out[-1].startswith(b"b OK")
    got = {l.rsplit(b" ", 1)[1].strip(b'"'): l for l in out[:-1]}
    assert set(got) == {b"LX/a/deep", b"LX/b", b"LZ/q/r"}, out
    assert b"\\NonExistent" not in got[b"LX/b"] and b"\\Subscribed" in got[b"LX/b"]
    # parents of subscribed children: CHILDINFO
    out = r.cmd(b'c LIST (SUBSCRIBED RECURSIVEMATCH) "" "LX/%"')
    assert out[-1].startswith(b"c OK")
    got = {l.split(b'"/" ', 1)[1].split(b" ")[0].strip(b'"'): l for l in out[:-1]}
    assert b'("CHILDINFO" ("SUBSCRIBED"))' in got[b"LX/a"], out
    assert b"\\Subscribed" not in got[b"LX/a"].split(b")")[0], out
    assert b"\\Subscribed" in got[b"LX/b"] and b"CHILDINFO" not in got[b"LX/b"], out
    out = r.cmd(b'd LIST (SUBSCRIBED RECURSIVEMATCH) "" "L%"')
    got = {l.split(b'"/" ', 1)[1].split(b" ")[0].strip(b'"'): l for l in out[:-1]}
    assert set(got) == {b"LX", b"LZ"}, out
    assert b'("CHILDINFO" ("SUBSCRIBED"))' in got[b"LX"], out
    # a level that does not exist, with a subscribed mailbox below
    assert b"\\NonExistent" in got[b"LZ"] and b"CHILDINFO" in got[b"LZ"], out
    out = r.cmd(b'd LIST (SUBSCRIBED RECURSIVEMATCH) "" "LZ/%"')
    assert len(out) == 2 and b"\\NonExistent" in out[0] and b'"LZ/q"' in out[0], out
    # without RECURSIVEMATCH: only what is subscribed itself
    out = r.cmd(b'd LIST (SUBSCRIBED) "" "L%"')
    assert out[-1].startswith(b"d OK") and len(out) == 1, out
    # RETURN (SUBSCRIBED) marks without selecting by subscription
    out = r.cmd(b'e LIST "" "LX/*" RETURN (SUBSCRIBED CHILDREN)')
    got = {l.split(b'"/" ', 1)[1].strip(b'"'): l for l in out[:-1]}
    assert set(got) == {b"LX/a", b"LX/a/deep", b"LX/b"}, out
    assert b"\\Subscribed" in got[b"LX/b"] and b"\\Subscribed" not in got[b"LX/a"]
    assert b"\\HasChildren" in got[b"LX/a"]
    r.close()


# --- 7. CONDSTORE (RFC 7162) -------------------------------------------------

def test_condstore_fetch_modseq_and_esearch(loft):
    m = imap_ssl(loft)
    fresh(m, "C1", [mkmsg(["Subject: c%d" % i], "x\r\n") for i in range(4)])
    m.logout()
    r = Raw(loft)
    out = r.cmd(b"s SELECT C1")
    assert not any(b"HIGHESTMODSEQ" in l and l.startswith(b"s ") for l in out)
    # FETCH MODSEQ enables CONDSTORE: HIGHESTMODSEQ reported at once
    out = r.cmd(b"f FETCH 1 (MODSEQ)")
    assert out[-1].startswith(b"f OK")
    assert any(re.match(rb"\* OK \[HIGHESTMODSEQ \d+\]", l) for l in out), out
    # now STORE answers carry MODSEQ
    out = r.cmd(b"t STORE 2 +FLAGS (\\Flagged)")
    mm = re.search(rb"\* 2 FETCH \(.*MODSEQ \((\d+)\)", b" ".join(out))
    assert mm, out
    ms2 = int(mm.group(1))
    out = r.cmd(b"t STORE 3 +FLAGS (\\Flagged)")
    ms3 = int(re.search(rb"MODSEQ \((\d+)\)", b" ".join(out)).group(1))
    r.cmd(b"t STORE 4 +FLAGS (\\Seen)")
    assert ms3 > ms2
    # the MODSEQ of the messages returned, not of the mailbox
    def es(line):
        out = r.cmd(line)
        assert out[-1].split(b" ")[1] == b"OK", out
        return [l for l in out if l.startswith(b"* ESEARCH")][0]
    assert es(b"a SEARCH RETURN (MIN) FLAGGED MODSEQ 1").endswith(b"MIN 2 MODSEQ %d" % ms2)
    assert es(b"b SEARCH RETURN (MAX) FLAGGED MODSEQ 1").endswith(b"MAX 3 MODSEQ %d" % ms3)
    assert es(b"c SEARCH RETURN (MIN MAX) FLAGGED MODSEQ 1").endswith(
        b"MIN 2 MAX 3 MODSEQ %d" % ms3)
    assert es(b"d SEARCH RETURN (COUNT) FLAGGED MODSEQ 1").endswith(b"COUNT 2 MODSEQ %d" % ms3)
    out = r.cmd(b"e SEARCH FLAGGED MODSEQ 1")
    assert b"* SEARCH 2 3 (MODSEQ %d)" % ms3 in out, out
    r.close()


# --- APPEND group commit and MULTIAPPEND (RFC 3502) ------------------------

def lit(b):
    return b"{%d+}\r\n" % len(b) + b


def test_multiappend(loft):
    r = Raw(loft)
    assert b"MULTIAPPEND" in b" ".join(r.cmd(b"c CAPABILITY"))
    assert r.cmd(b"c CREATE MA")[-1].startswith(b"c OK")
    m1, m2, m3 = (mkmsg(["Subject: multi %d" % i], "body %d\r\n" % i) for i in range(3))
    out = r.cmd(b"a APPEND MA (\\Seen) " + lit(m1) + b' ($Multi) "01-Jul-2003 10:52:37 +0200" '
                + lit(m2) + b" " + lit(m3))
    mm = re.match(rb"a OK \[APPENDUID (\d+) 1:3\]", out[-1])
    assert mm, out
    out = r.cmd(b"s SELECT MA")
    assert b"* 3 EXISTS" in out
    out = r.cmd(b"f FETCH 1:3 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (Subject)])")
    flat = b"\n".join(out)
    assert len(re.findall(rb"^\* \d+ FETCH", flat, re.M)) == 3
    assert b"multi 0" in flat and b"multi 2" in flat
    assert b"FLAGS (\\Seen \\Recent)" in out[0] and b"$Multi" in flat and b"01-Jul-2003" in flat
    # all or nothing: a missing mailbox, an empty message, a bad flag
    assert r.cmd(b"b APPEND Nowhere " + lit(m1) + b" " + lit(m2))[-1].startswith(
        b"b NO [TRYCREATE]")
    assert r.cmd(b"c APPEND MA " + lit(m1) + b" {0+}\r\n")[-1].startswith(b"c NO")
    assert r.cmd(b"d APPEND MA " + lit(m1) + b" (\\Bogus) " + lit(m2))[-1].startswith(b"d BAD")
    assert r.cmd(b"e APPEND MA " + lit(m1) + b" junk")[-1].startswith(b"e BAD")
    out = r.cmd(b"n NOOP")
    assert not any(l.endswith(b"EXISTS") for l in out), out
    out = r.cmd(b"t STATUS MA (MESSAGES)")
    assert b"(MESSAGES 3)" in out[0], out
    r.close()


def test_append_group_commit_pipelined(loft):
    r = Raw(loft)
    assert r.cmd(b"c CREATE GC")[-1].startswith(b"c OK")
    before = loft.log().count("event=append-commit")
    n = 40
    msgs = [mkmsg(["Subject: gc %d" % i, "Message-ID: <gc%d@x>" % i], "x" * (i * 50) + "\r\n")
            for i in range(n)]
    # every APPEND and then a SELECT in one write: the SELECT must see them
    # all, and the tagged replies come in order
    r.send(b"".join(b"a%d APPEND GC (\\Flagged) " % i + lit(b) + b"\r\n"
                    for i, b in enumerate(msgs)) + b"s SELECT GC\r\n")
    lines = r.until_tag(b"s")
    tagged = [l for l in lines if not l.startswith(b"*")]
    assert [t.split(b" ")[0] for t in tagged] == [b"a%d" % i for i in range(n)] + [b"s"]
    uids = []
    for t in tagged[:-1]:
        mm = re.match(rb"a\d+ OK \[APPENDUID \d+ (\d+)\]", t)
        assert mm, t
        uids.append(int(mm.group(1)))
    assert uids == list(range(1, n + 1))
    assert b"* %d EXISTS" % n in lines
    # fewer commits than APPENDs: they were stored together
    log = loft.log()
    commits = re.findall(r"event=append-commit appends=(\d+) messages=(\d+)", log)[before:]
    assert sum(int(m) for _, m in commits) == n, commits
    assert len(commits) < n and max(int(a) for a, _ in commits) > 1, commits
    out = r.cmd(b"f FETCH 1:* (FLAGS RFC822.SIZE)")
    sizes = [int(x) for x in re.findall(rb"RFC822.SIZE (\d+)", b" ".join(out))]
    assert sizes == [len(b) for b in msgs]
    r.close()


def test_append_concurrent_sessions(loft):
    import threading
    m = imap_ssl(loft)
    assert m.create("CC")[0] == "OK"
    results = []

    def client(k):
        r = Raw(loft)
        body = b"".join(b"a%d APPEND CC " % i + lit(mkmsg(["Subject: c%d-%d" % (k, i)], "y\r\n"))
                        + b"\r\n" for i in range(15))
        r.send(body)
        lines = r.until_tag(b"a14")
        results.append([l for l in lines if not l.startswith(b"*")])
        r.close()

    ths = [threading.Thread(target=client, args=(k,)) for k in range(5)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)
    assert len(results) == 5
    for tagged in results:
        assert len(tagged) == 15 and all(b" OK [APPENDUID" in t for t in tagged), tagged
    typ, data = m.select("CC")
    assert data == [b"75"]
    typ, data = m.search(None, "SUBJECT", "c3-14")
    assert typ == "OK" and len(data[0].split()) == 1
    m.logout()


# --- BINARY (RFC 3516), advertised -------------------------------------------

def test_binary(loft):
    r = Raw(loft)
    assert b" BINARY" in b" ".join(r.cmd(b"c CAPABILITY"))
    assert r.cmd(b"c CREATE BIN")[-1].startswith(b"c OK")
    blob = bytes(range(256)) * 4
    msg = (b"Subject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
           b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(blob).replace(b"\n", b"\r\n") + b"--b--\r\n")
    # APPEND with a literal8 (~{n}), NULs and all
    raw = (b"Subject: raw\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: binary\r\n"
           b"Content-Type: application/octet-stream\r\n\r\n" + blob)
    assert r.cmd(b"a APPEND BIN " + lit(msg))[-1].startswith(b"a OK")
    r.send(b"b APPEND BIN ~{%d+}\r\n" % len(raw) + raw + b"\r\n")
    assert r.until_tag(b"b")[-1].startswith(b"b OK")
    r.cmd(b"s SELECT BIN")
    r.send(b"f FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])\r\n")
    head = r.line()
    assert b"BINARY.SIZE[2] 1024" in head and head.endswith(b"~{1024}"), head
    while len(r.buf) < 1024:
        r.buf += r.s.recv(65536)
    assert r.buf[:1024] == blob
    r.buf = r.buf[1024:]
    assert r.until_tag(b"f")[-1].startswith(b"f OK")
    r.send(b"g FETCH 2 (BINARY.PEEK[1])\r\n")
    head = r.line()
    assert head.endswith(b"~{1024}"), head
    while len(r.buf) < 1024:
        r.buf += r.s.recv(65536)
    assert r.buf[:1024] == blob
    r.buf = r.buf[1024:]
    assert r.until_tag(b"g")[-1].startswith(b"g OK")
    r.close()


# --- STATUS=SIZE (RFC 8438) ---------------------------------------------------

def test_status_size(loft):
    m = imap_ssl(loft)
    assert b"STATUS=SIZE" in m.capability()[1][0]
    msgs = [mkmsg(["Subject: size %d" % i], "z" * (100 * i) + "\r\n") for i in range(5)]
    fresh(m, "SZ", msgs)
    typ, data = m.status("SZ", "(MESSAGES SIZE)")
    assert typ == "OK" and b"(MESSAGES 5 SIZE %d)" % sum(map(len, msgs)) in data[0], data
    m.store("1,3", "+FLAGS", "(\\Deleted)")
    m.expunge()
    typ, data = m.status("SZ", "(SIZE)")
    assert b"(SIZE %d)" % (len(msgs[1]) + len(msgs[3]) + len(msgs[4])) in data[0], data
    assert m.create("SZ0")[0] == "OK"
    typ, data = m.status("SZ0", "(SIZE UNSEEN)")
    assert b"(SIZE 0 UNSEEN 0)" in data[0], data
    m.untagged_responses.pop("STATUS", None)
    typ, data = m._simple_command("LIST", '""', "SZ", "RETURN", "(STATUS (SIZE))")
    assert typ == "OK"
    st = m.untagged_responses.pop("STATUS", [])
    assert st and b"SIZE %d" % (len(msgs[1]) + len(msgs[3]) + len(msgs[4])) in st[0], st
    m.logout()


# --- OBJECTID (RFC 8474) and SAVEDATE (RFC 8514) ----------------------------

def test_objectid(loft):
    r = Raw(loft)
    caps = b" ".join(r.cmd(b"c CAPABILITY"))
    assert b" OBJECTID" in caps and b" SAVEDATE" in caps
    out = r.cmd(b"c CREATE OB1")
    mm = re.match(rb"c OK \[MAILBOXID \(([A-Za-z0-9_-]{1,255})\)\]", out[-1])
    assert mm, out
    mbid = mm.group(1)
    out = r.cmd(b"d STATUS OB1 (MAILBOXID MESSAGES)")
    assert b"MAILBOXID (%s)" % mbid in out[0], out
    assert r.cmd(b"e RENAME OB1 OB2")[-1].startswith(b"e OK")
    out = r.cmd(b"f STATUS OB2 (MAILBOXID)")
    assert b"MAILBOXID (%s)" % mbid in out[0], out
    out = r.cmd(b"c CREATE OB3")
    assert mbid not in out[-1]
    for i in range(2):
        assert r.cmd(b"a APPEND OB2 " + lit(mkmsg(["Subject: ob%d" % i], "x\r\n")))[-1] \
            .startswith(b"a OK")
    out = r.cmd(b"s SELECT OB2")
    assert b"* OK [MAILBOXID (%s)] Ok" % mbid in out, out
    out = r.cmd(b"f FETCH 1:2 (EMAILID THREADID)")
    ids = re.findall(rb"EMAILID \(([A-Za-z0-9_-]+)\) THREADID NIL", b" ".join(out))
    assert len(ids) == 2 and ids[0] != ids[1], out
    # a copy is the same message: same EMAILID, found by SEARCH EMAILID
    assert r.cmd(b"k COPY 2 OB3")[-1].startswith(b"k OK")
    out = r.cmd(b"g SEARCH EMAILID " + ids[1])
    assert b"* SEARCH 2" in out, out
    assert b"* SEARCH" in r.cmd(b"h SEARCH THREADID T1")[0]
    assert r.cmd(b"i SEARCH EMAILID bad!id")[-1].startswith(b"i BAD")
    r.cmd(b"s SELECT OB3")
    out = r.cmd(b"f FETCH 1 (EMAILID)")
    assert b"EMAILID (%s)" % ids[1] in out[0], out
    r.close()


def test_savedate(loft):
    import time
    r = Raw(loft)
    assert r.cmd(b"c CREATE SD")[-1].startswith(b"c OK")
    assert r.cmd(b'a APPEND SD "01-Jan-2001 10:00:00 +0000" ' + lit(mkmsg(["Subject: sd"], "x\r\n")))[-1] \
        .startswith(b"a OK")
    r.cmd(b"s SELECT SD")
    out = r.cmd(b"f FETCH 1 (SAVEDATE INTERNALDATE)")
    mm = re.search(rb'SAVEDATE "(\d\d-\w\w\w-\d{4}) ', out[0])
    assert mm and b'INTERNALDATE "01-Jan-2001' in out[0], out
    today = time.strftime("%d-%b-%Y", time.gmtime()).encode()
    assert mm.group(1) == today
    assert b"* SEARCH 1" in r.cmd(b"g SEARCH SAVEDON " + today)
    assert b"* SEARCH 1" in r.cmd(b"g SEARCH SAVEDSINCE 1-Jan-2020")
    assert b"* SEARCH" in r.cmd(b"g SEARCH SAVEDBEFORE 1-Jan-2020")
    assert b"* SEARCH 1" not in r.cmd(b"g SEARCH SAVEDBEFORE 1-Jan-2020")
    assert b"* SEARCH 1" in r.cmd(b"g SEARCH SAVEDATESUPPORTED")
    assert b"* SEARCH 1" in r.cmd(b"g SEARCH BEFORE 1-Jan-2002")
    r.close()


# --- SEARCHRES (RFC 5182) -------------------------------------------------------

def test_searchres(loft):
    m = imap_ssl(loft)
    fresh(m, "SR", [mkmsg(["Subject: sr%d" % i], "x\r\n") for i in range(6)])
    m.store("2,4,5", "+FLAGS", "(\\Flagged)")
    m.logout()
    r = Raw(loft)
    assert b" SEARCHRES" in b" ".join(r.cmd(b"c CAPABILITY"))
    r.cmd(b"s SELECT SR")
    # SAVE alone: no ESEARCH, then "$" in FETCH, STORE, SEARCH, UID SEARCH
    out = r.cmd(b"a SEARCH RETURN (SAVE) FLAGGED")
    assert out[-1].startswith(b"a OK") and len(out) == 1, out
    out = r.cmd(b"b FETCH $ (UID)")
    assert [l for l in out if b"FETCH" in l and l.startswith(b"*")] == \
        [b"* 2 FETCH (UID 2)", b"* 4 FETCH (UID 4)", b"* 5 FETCH (UID 5)"], out
    assert b"* SEARCH 4 5" in r.cmd(b"c SEARCH $ 4:*")
    assert b"* SEARCH 2 4 5" in r.cmd(b"d UID SEARCH UID $")
    assert b"* SEARCH 1 3 6" in r.cmd(b"e SEARCH NOT $")
    assert r.cmd(b"f UID STORE $ +FLAGS.SILENT (\\Seen)")[-1].startswith(b"f OK")
    assert b"* SEARCH 2 4 5" in r.cmd(b"g SEARCH SEEN")
    # after an EXPUNGE the saved result loses what is gone
    r.cmd(b"h STORE 4 +FLAGS.SILENT (\\Deleted)")
    r.cmd(b"i EXPUNGE")
    out = r.cmd(b"j FETCH $ (UID)")
    assert [l for l in out if l.startswith(b"*") and b"FETCH" in l] == \
        [b"* 2 FETCH (UID 2)", b"* 4 FETCH (UID 5)"], out
    # with MIN/MAX only those are saved, and ESEARCH still answers
    out = r.cmd(b"k SEARCH RETURN (SAVE MIN) FLAGGED")
    assert any(l.startswith(b"* ESEARCH") and l.endswith(b"MIN 2") for l in out), out
    assert b"* SEARCH 2" in r.cmd(b"l UID SEARCH $")
    # a SEARCH ... SAVE that fails empties it
    assert r.cmd(b"m SEARCH RETURN (SAVE) BOGUS")[-1].startswith(b"m BAD")
    out = r.cmd(b"n FETCH $ (UID)")
    assert out[-1].startswith(b"n OK") and len(out) == 1, out
    # a new SELECT forgets it
    r.cmd(b"o SEARCH RETURN (SAVE) ALL")
    r.cmd(b"p SELECT SR")
    assert r.cmd(b"q FETCH $ UID")[-1].startswith(b"q OK")
    assert len(r.cmd(b"q FETCH $ UID")) == 1
    # "$" inside a set is not a set
    assert r.cmd(b"t FETCH 1,$ UID")[-1].startswith(b"t BAD")
    r.close()


def test_list_subscribed_nonexistent(loft):
    """Item 6: SUBSCRIBED lists subscribed mailboxes that no longer exist
    (or never did) with \\NonExistent; LSUB with \\Noselect."""
    r = Raw(loft)
    for name in (b"SbX", b"SbY"):
        assert r.cmd(b"c CREATE " + name)[-1].startswith(b"c OK")
    for name in (b"SbX", b"SbY", b"SbNever"):
        assert r.cmd(b"s SUBSCRIBE " + name)[-1].startswith(b"s OK")
    assert r.cmd(b"d DELETE SbY")[-1].startswith(b"d OK")
    out = r.cmd(b'l LIST (SUBSCRIBED) "" "Sb*"')
    got = {l.rsplit(b" ", 1)[1].strip(b'"'): l for l in out[:-1]}
    assert set(got) == {b"SbX", b"SbY", b"SbNever"}, out
    for gone in (b"SbY", b"SbNever"):
        assert b"\\NonExistent" in got[gone] and b"\\Subscribed" in got[gone], got[gone]
    assert b"\\NonExistent" not in got[b"SbX"] and b"\\Subscribed" in got[b"SbX"]
    # a plain LIST does not show them; LSUB does, \Noselect
    out = r.cmd(b'm LIST "" "Sb*"')
    assert len(out) == 2 and out[0].endswith((b' SbX', b' "SbX"')), out
    out = r.cmd(b'n LSUB "" "Sb*"')
    got = {l.rsplit(b" ", 1)[1].strip(b'"'): l for l in out[:-1]}
    assert set(got) == {b"SbX", b"SbY", b"SbNever"} and b"\\Noselect" in got[b"SbY"], out
    # re-created, the mailbox is subscribed again; UNSUBSCRIBE of a name
    # not subscribed is NO
    assert r.cmd(b"c CREATE SbY")[-1].startswith(b"c OK")
    out = r.cmd(b'o LIST "" "SbY" RETURN (SUBSCRIBED)')
    assert b"\\Subscribed" in out[0] and b"\\NonExistent" not in out[0], out
    assert r.cmd(b"u UNSUBSCRIBE SbNever")[-1].startswith(b"u OK")
    assert r.cmd(b"u UNSUBSCRIBE SbNever")[-1].startswith(b"u NO")
    out = r.cmd(b'p LIST (SUBSCRIBED) "" "SbN*"')
    assert len(out) == 1, out
    r.close()


def test_append_client_gone_before_commit(loft):
    """APPENDs queued for the group commit whose client closes at once:
    the server stores them unanswered (or the client's last bytes never
    arrive), never half a message, and goes on serving."""
    r = Raw(loft)
    assert r.cmd(b"c CREATE GONE")[-1].startswith(b"c OK")
    msgs = [mkmsg(["Subject: gone %d" % i], "w" * (i * 300) + "\r\n") for i in range(8)]
    r.send(b"".join(b"a%d APPEND GONE " % i + lit(b) + b"\r\n" for i, b in enumerate(msgs)))
    r.close()
    m = imap_ssl(loft)
    typ, data = m.select("GONE")
    n = int(data[0])
    assert typ == "OK" and 0 <= n <= 8
    if n:
        typ, data = m.fetch("1:*", "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Subject)])")
        got = {}
        for d in data:
            if isinstance(d, tuple):
                size = int(re.search(rb"RFC822.SIZE (\d+)", d[0]).group(1))
                k = int(re.search(rb"gone (\d+)", d[1]).group(1))
                got[k] = size
        assert all(got[k] == len(msgs[k]) for k in got), got
    m.logout()
