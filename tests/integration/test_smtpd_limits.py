"""loft-smtpd's process-wide and whole-transfer limits (security review):
the budget of message bytes held in memory by all sessions together
(smtpd.max_body_bytes_in_flight), the total deadlines for a DATA/BDAT
transfer and for the time without a message (slowloris clients that send a
byte just before each idle timeout), and RCPT TO:<postmaster> without a
domain (RFC 5321 4.5.1)."""
import os
import re
import smtplib
import subprocess
import threading
import time

import pytest

from loft_smtp_helpers import Raw, assert_clean, inbox, strip_trace, start_loft, wait_for
from loftenv import Loft

MB = 1024 * 1024
LINE = b"y" * 998 + b"\r\n"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    raise AssertionError("no VmRSS")


def sanitized():
    """ASan keeps freed memory in quarantine and copies on realloc: RSS
    figures mean nothing there, the budget is checked from the log only."""
    exe = os.path.join(os.environ["LOFT_BUILD"], "loft-smtpd")
    out = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    return "libasan" in out


def body_of(mb, tag):
    head = b"From: x@remote.example\r\nSubject: %s\r\n\r\n" % tag
    return head + LINE * (mb * MB // len(LINE))


# --- 1: memory budget -----------------------------------------------------

BUDGET_CONF = {
    "smtpd.max_message_size": str(22 * MB),
    "smtpd.max_body_bytes_in_flight": str(24 * MB),
    "smtpd.max_connections_per_ip": "20",
}


def test_body_budget_bounds_rss(tmp_path):
    loft = start_loft(tmp_path, conf=BUDGET_CONF)
    try:
        pid = loft.children()["loft-smtpd"]
        base = rss_kib(pid)
        n = 5
        blob = LINE * (20 * MB // len(LINE))
        clients = []
        for i in range(n):
            r = Raw(loft.port("mx"), timeout=60)
            assert r.cmd("EHLO big%d.test" % i)[0] == 250
            assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
            assert r.cmd("RCPT TO:<a@example.org>")[0] == 250
            assert r.cmd("DATA")[0] == 354
            r.send(b"From: x@remote.example\r\nSubject: conc %d\r\n\r\n" % i)
            clients.append(r)
        # 5 x 20 MB of unfinished DATA, sent concurrently
        threads = [threading.Thread(target=c.send, args=(blob,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        time.sleep(0.5)
        peak = rss_kib(pid)
        # without the budget this is base + 100 MB; with it, one body
        # (20 MB) at most, plus slack for buffers and the allocator
        if not sanitized():
            assert peak - base < 24 * 1024 + 8 * 1024, (base, peak)
        codes = []
        for c in clients:
            c.send(b".\r\n")
            codes.append(c.reply())
        kept = [c for c, (code, _) in zip(clients, codes) if code == 250]
        refused = [(code, text) for code, text in codes if code != 250]
        assert len(kept) <= 1, codes
        assert len(refused) >= n - 1, codes
        for code, text in refused:
            assert code == 452 and "4.3.1" in text, codes
        # the refused sessions are still in step: they can send again
        for c in clients:
            assert c.cmd("NOOP")[0] == 250
            c.close()
        # bodies are freed, not kept for reuse
        if not sanitized():
            after = wait_for(lambda: rss_kib(pid) - base < 8 * 1024 and rss_kib(pid), 10)
            assert rss_kib(pid) - base < 8 * 1024, (base, peak, after)
        # alone, a 20 MB message still goes through byte-exact
        body = body_of(20, b"alone")
        with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=60) as s:
            s.sendmail("x@remote.example", ["b@example.org"], body)
        got = [m for m in inbox(loft, "b@example.org") if b"Subject: alone\r\n" in m[:3000]]
        assert len(got) == 1 and strip_trace(got[0]) == body
    finally:
        loft.stop()
    assert_clean(loft)
    # the server's own count never passed the budget
    seen = [int(m) for m in re.findall(r"event=body-budget-full .*?in_flight=(\d+)", loft.log())]
    assert seen and max(seen) <= 24 * MB, seen


def test_body_budget_bdat(tmp_path):
    """BDAT: the chunk that passes the budget gets 452 at once; memory held
    by another session's open transaction stays counted."""
    loft = start_loft(tmp_path, conf=BUDGET_CONF)
    try:
        holder = Raw(loft.port("mx"), timeout=60)
        assert holder.cmd("EHLO h.test")[0] == 250
        assert holder.cmd("MAIL FROM:<x@remote.example>")[0] == 250
        assert holder.cmd("RCPT TO:<a@example.org>")[0] == 250
        first = b"From: x@remote.example\r\nSubject: held\r\n\r\n" + LINE * (15 * MB // len(LINE))
        holder.send(b"BDAT %d\r\n" % len(first) + first)
        assert holder.reply()[0] == 250
        with Raw(loft.port("mx"), timeout=60) as r:
            assert r.cmd("EHLO b.test")[0] == 250
            assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
            assert r.cmd("RCPT TO:<a@example.org>")[0] == 250
            chunk = LINE * (12 * MB // len(LINE))
            r.send(b"BDAT %d\r\n" % len(chunk) + chunk)
            code, text = r.reply()
            assert code == 452 and "4.3.1" in text, text
            # the transaction is over: another BDAT is out of sequence
            r.send(b"BDAT 3 LAST\r\nabc")
            assert r.reply()[0] == 503
            assert r.cmd("RSET")[0] == 250
        last = b"\r\nend\r\n"
        holder.send(b"BDAT %d LAST\r\n" % len(last) + last)
        assert holder.reply()[0] == 250
        holder.close()
        got = [m for m in inbox(loft, "a@example.org") if b"Subject: held\r\n" in m[:3000]]
        assert len(got) == 1 and strip_trace(got[0]) == first + last
    finally:
        loft.stop()
    assert_clean(loft)


def test_budget_raised_to_fit_one_message(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.max_message_size": str(2 * MB),
                                      "smtpd.max_body_bytes_in_flight": str(1 * MB)})
    try:
        body = body_of(1, b"fits") + LINE * 500
        with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=30) as s:
            s.sendmail("x@remote.example", ["a@example.org"], body)
        assert "event=config-adjusted key=smtpd.max_body_bytes_in_flight" in loft.log()
    finally:
        loft.stop()
    assert_clean(loft)


# --- 2: total deadlines ----------------------------------------------------

DEADLINE_CONF = {
    "smtpd.timeout_data_total": "2",
    "smtpd.timeout_envelope": "3",
    "smtpd.timeout_data": "30",
    "smtpd.timeout_command": "30",
}


# The deadline tests keep a lower bound (the deadline did not fire early:
# that is the behaviour under test) but only a generous upper one: on a
# loaded machine the daemon and this client can be seconds late, and a
# deadline that never fires still fails (the loops give up at UPPER, and
# the 421 text is checked).
UPPER = 60


@pytest.fixture(scope="module")
def dl(tmp_path_factory):
    l = start_loft(tmp_path_factory.mktemp("smtpd-deadline"), conf=DEADLINE_CONF)
    yield l
    l.stop()
    assert_clean(l)


def drip_until_closed(r, piece, every, limit):
    """Sends piece every `every` seconds until the server closes; returns
    the seconds it took."""
    t0 = time.time()
    while time.time() - t0 < limit:
        try:
            r.send(piece)
        except OSError:
            break
        if r.closed(every):
            break
    return time.time() - t0


def test_data_dripped_is_cut(dl):
    with Raw(dl.port("mx")) as r:
        assert r.cmd("EHLO drip.test")[0] == 250
        assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
        assert r.cmd("RCPT TO:<a@example.org>")[0] == 250
        assert r.cmd("DATA")[0] == 354
        took = drip_until_closed(r, b"x", 0.3, UPPER)
        assert 1.5 < took < UPPER, took
        assert b"421 4.4.2" in r.buf, r.buf
    assert "event=data-deadline" in dl.log()


def test_bdat_series_is_cut(dl):
    with Raw(dl.port("mx")) as r:
        assert r.cmd("EHLO drip.test")[0] == 250
        assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
        assert r.cmd("RCPT TO:<a@example.org>")[0] == 250
        t0 = time.time()
        code = 250
        while code == 250 and time.time() - t0 < UPPER:
            r.send(b"BDAT 1\r\nz")
            code, text = r.reply()
            time.sleep(0.3)
        assert code == 421 and "4.4.2" in text, text
        assert 1.5 < time.time() - t0 < UPPER
        assert r.closed()


def test_session_without_message_is_cut(dl):
    with Raw(dl.port("mx")) as r:
        t0 = time.time()
        took = drip_until_closed(r, b"NOOP\r\n", 0.3, UPPER)
        assert 2.5 < took < UPPER, took
        assert b"421 4.4.2" in r.buf and b"without a message" in r.buf, r.buf
    # RSET inside a BDAT series does not restart the clock either
    with Raw(dl.port("mx")) as r:
        time.sleep(2.0)
        assert r.cmd("EHLO c.test")[0] == 250
        assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
        assert r.cmd("RCPT TO:<a@example.org>")[0] == 250
        r.send(b"BDAT 1\r\nz")
        assert r.reply()[0] == 250
        # the envelope deadline (3 s) passes in the series, the data one
        # (2 s from the first BDAT) does not
        time.sleep(1.3)
        assert r.cmd("RSET")[0] == 250
        code, text = r.cmd("NOOP")
        assert code == 421 and "4.4.2" in text, text


def test_messages_restart_the_envelope_clock(dl):
    with Raw(dl.port("mx")) as r:
        assert r.cmd("EHLO c.test")[0] == 250
        for i in range(3):  # 3 x 1.4 s > the 3 s envelope deadline
            time.sleep(1.4)
            assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
            assert r.cmd("RCPT TO:<a@example.org>")[0] == 250
            assert r.cmd("DATA")[0] == 354
            assert r.cmd("Subject: t%d\r\n\r\nhi\r\n." % i)[0] == 250
        assert r.cmd("QUIT")[0] == 221


def test_session_lifetime_is_capped(tmp_path):
    """One small message every second keeps both the envelope and the
    command deadlines happy; smtpd.max_session_time still ends the session,
    at a message boundary: the message under way when the time runs out
    gets its 250 first."""
    loft = start_loft(tmp_path, conf={"smtpd.max_session_time": "3",
                                      "smtpd.timeout_envelope": "30"})
    try:
        with Raw(loft.port("mx")) as r:
            t0 = time.time()
            assert r.cmd("EHLO c.test")[0] == 250
            sent, code, text = 0, 250, ""
            while time.time() - t0 < UPPER:
                code, text = r.cmd("MAIL FROM:<x@remote.example>")
                if code != 250:
                    break
                assert r.cmd("RCPT TO:<a@example.org>")[0] == 250
                assert r.cmd("DATA")[0] == 354
                # the time limit passes while this DATA text is on its way
                r.send(b"Subject: life %d\r\n\r\n" % sent)
                time.sleep(0.7)
                assert r.cmd("hi\r\n.")[0] == 250
                sent += 1
            took = time.time() - t0
            assert code == 421 and "4.4.2" in text and "time limit" in text, (code, text)
            assert 2.5 < took < UPPER, took
            assert r.closed()
        assert sent >= 3
        subjects = [m for m in inbox(loft, "a@example.org") if b"Subject: life" in m]
        assert len(subjects) == sent, (len(subjects), sent)
        assert "event=session-deadline" in loft.log()
    finally:
        loft.stop()
    assert_clean(loft)


# --- 4: postmaster without a domain ---------------------------------------

def test_postmaster_first_domain_that_resolves(tmp_path):
    # start_loft: example.net (sorted first) has a catch-all to c@
    loft = start_loft(tmp_path)
    try:
        with Raw(loft.port("mx")) as r:
            assert r.cmd("EHLO c.test")[0] == 250
            assert r.cmd("MAIL FROM:<x@remote.example>")[0] == 250
            assert r.cmd("RCPT TO:<Postmaster>")[0] == 250
            assert r.cmd("DATA")[0] == 354
            assert r.cmd("Subject: pm1\r\n\r\nhi\r\n.")[0] == 250
        assert any(b"Subject: pm1" in m for m in inbox(loft, "c@example.net"))
    finally:
        loft.stop()
    assert_clean(loft)


def test_postmaster_alias_then_oldest_user(tmp_path):
    loft = Loft(tmp_path, enable=["smtpd"], conf={"smtpd.greeting_delay_ms": "0"})
    loft.add_domain("b.test")
    loft.add_domain("a.test")
    loft.add_user("zed@b.test", "pw-zed-123")  # the oldest account
    loft.add_user("amy@a.test", "pw-amy-123")
    loft.start()

    def send(tag):
        with Raw(loft.port("mx")) as r:
            assert r.cmd("EHLO c.test")[0] == 250
            assert r.cmd("MAIL FROM:<>")[0] == 250
            assert r.cmd("RCPT TO:<postmaster>")[0] == 250
            assert r.cmd("DATA")[0] == 354
            assert r.cmd("Subject: %s\r\n\r\nhi\r\n." % tag)[0] == 250

    try:
        send("no-postmaster")  # no postmaster@ anywhere: the oldest account
        assert any(b"Subject: no-postmaster" in m for m in inbox(loft, "zed@b.test"))
        loft.ctl("alias", "add", "postmaster@b.test", "zed@b.test")
        loft.ctl("alias", "add", "postmaster@a.test", "amy@a.test")
        send("alias")  # a.test sorts first
        assert any(b"Subject: alias" in m for m in inbox(loft, "amy@a.test"))
        assert not any(b"Subject: alias" in m for m in inbox(loft, "zed@b.test"))
    finally:
        loft.stop()
    assert_clean(loft)
