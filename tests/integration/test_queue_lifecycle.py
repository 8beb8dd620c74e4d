"""loft-queue over time and under trouble: connection reuse, a delay notice
then an expiry bounce (timers shortened by settings), no report to the
null sender, SIGKILL of loft-queue in the middle of deliveries (every
message delivered after the restart, none lost), and loftctl queue."""
import os
import signal
import threading
import time

import pytest

from loftenv import free_port
from loft_queue_helpers import (Dns, Sink, assert_clean, inbox, rows, set_setting, start_loft,
                                submit, wait_rows)

MX = {"example.net": [(10, "mx1.example.net")]}
A = {"mx1.example.net": "127.0.0.2"}


@pytest.fixture
def env(tmp_path):
    port = free_port()
    dns = Dns(tmp_path, mx=MX, a=A)
    mx1 = Sink("127.0.0.2", port)
    made = []

    def start(conf=None, settings=None):
        c = {"queue.mx_port": str(port)}
        c.update(conf or {})
        s = {"route.mode": "direct"}
        s.update(settings or {})
        loft = start_loft(tmp_path, dns, conf=c, settings=s)
        loft.killed = False
        made.append(loft)
        return loft
    yield start, mx1
    for l in made:
        l.stop()
        assert_clean(l, killed=l.killed)
    mx1.stop()
    dns.stop()


def hold(loft):
    set_setting(loft, "route.mode", "auto")
    set_setting(loft, "route.verdict", "relay")


def test_connection_reuse(env):
    start, mx1 = env
    loft = start(conf={"queue.max_per_destination": "1"})
    hold(loft)
    for i in range(3):
        submit(loft, ["r%d@example.net" % i])
    assert len(rows(loft)) == 3
    s0 = mx1.handler.sessions
    set_setting(loft, "route.mode", "direct")
    assert mx1.wait(3), loft.log()[-3000:]
    assert mx1.handler.sessions - s0 == 1, "three messages, one session"


def test_delay_notice_then_expiry(env):
    start, mx1 = env
    loft = start(conf={"queue.delay_warning": "2", "queue.max_age": "15"})
    mx1.handler.rcpt_codes["slow@example.net"] = "451 4.3.0 try later"
    submit(loft, ["slow@example.net"], subject="slowpoke")
    end = time.time() + 30
    while time.time() < end and not inbox(loft, "a@example.org"):
        time.sleep(0.2)
    box = inbox(loft, "a@example.org")
    assert box, loft.log()[-3000:]
    raw = box[0].decode()
    assert "Action: delayed" in raw and "Will-Retry-Until:" in raw and "Subject: slowpoke" in raw
    r = wait_rows(loft, lambda r: r[0][2] == "bounced", timeout=60)
    assert "gave up" in r[0][4]
    end = time.time() + 10
    while time.time() < end and len(inbox(loft, "a@example.org")) < 2:
        time.sleep(0.2)
    box = inbox(loft, "a@example.org")
    assert len(box) == 2, "one delay notice, one bounce"
    assert "Action: failed" in box[1].decode() and "Status: 4.4.7" in box[1].decode()


def test_no_report_to_the_null_sender(env):
    """Mail from a remote sender forwarded by an alias to a remote address
    that refuses it: the bounce goes to the remote sender from <>; that
    one is refused too, and then nothing more is sent."""
    start, mx1 = env
    loft = start()
    loft.ctl("alias", "add", "fwd@example.org", "gone@example.net")
    mx1.handler.rcpt_codes["gone@example.net"] = "550 5.1.1 gone"
    mx1.handler.rcpt_codes["sender@example.net"] = "550 5.1.1 no such sender"
    import smtplib
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=30) as s:
        s.sendmail("sender@example.net", ["fwd@example.org"],
                   b"From: sender@example.net\r\nTo: fwd@example.org\r\nSubject: fw\r\n"
                   b"Date: Mon, 07 Dec 2026 00:00:00 +0000\r\nMessage-ID: <f@example.net>\r\n"
                   b"\r\nhi\r\n")
    r = wait_rows(loft, lambda r: len(r) == 2 and all(x[2] == "bounced" for x in r))
    assert r[1][1] == "sender@example.net"
    time.sleep(2)
    assert len(rows(loft)) == 2, "a report to the null sender was made"
    assert "event=bounce-sent to=sender@example.net" in loft.log()


def test_kill_during_delivery_loses_nothing(env):
    start, mx1 = env
    loft = start()
    hold(loft)
    n = 20
    for i in range(n):
        submit(loft, ["k%d@example.net" % i], subject="kill %d" % i)
    gate = threading.Event()
    mx1.handler.hold = gate
    set_setting(loft, "route.mode", "direct")
    assert loft.wait_log("event=session-ready", 10)
    time.sleep(0.5)
    pid = loft.children()["loft-queue"]
    loft.killed = True
    os.kill(pid, signal.SIGKILL)
    gate.set()
    mx1.handler.hold = None
    r = wait_rows(loft, lambda r: all(x[2] == "done" for x in r), timeout=60)
    assert len(r) == n
    got = {x[1][0] for x in mx1.messages}
    assert {"k%d@example.net" % i for i in range(n)} <= got, "a message was lost"
    assert loft.children()["loft-queue"] != pid


def test_loftctl_queue(env):
    start, mx1 = env
    loft = start()
    hold(loft)
    submit(loft, ["c1@example.net"])
    submit(loft, ["c2@example.net"])
    submit(loft, ["c3@example.net"])
    ids = [str(x[0]) for x in rows(loft)]
    out = loft.ctl("queue", "list").stdout
    assert "<a@example.org> -> <c1@example.net>" in out and "-- 3 entries" in out
    loft.ctl("queue", "hold", ids[0])
    loft.ctl("queue", "release", ids[0])
    loft.ctl("queue", "hold", ids[0])
    loft.ctl("queue", "delete", ids[1])
    loft.ctl("queue", "bounce", ids[2])
    r = wait_rows(loft, lambda r: any(x[2] == "bounced" for x in r))
    assert [x[1] for x in r] == ["c1@example.net", "c3@example.net"]
    assert "returned to the sender by the administrator" in loft.ctl("queue", "show", ids[2]).stdout
    set_setting(loft, "route.mode", "direct")
    time.sleep(2)
    assert [x[2] for x in rows(loft)] == ["queued", "bounced"], "a held entry was sent"
    # flush releases a held entry too (release alone would race the scan)
    assert "1 entry due now" in loft.ctl("queue", "flush", ids[0]).stdout
    assert mx1.wait(1)
    wait_rows(loft, lambda r: r[0][2] == "done")
    out = loft.ctl("queue", "show", ids[0]).stdout
    assert "route=direct mx=mx1.example.net addr=127.0.0.2 tls=none" in out
    assert "reply: 250 2.0.0 queued as test" in out
    assert loft.ctl("queue", "show", "999", check=False).returncode == 1
