"""loft-queue's slow start (smtpd/queue_slowstart.c): sessions per
destination begin at queue.initial_per_destination (2), grow by one per
delivered transaction up to queue.max_per_destination, and halve when a
session fails.  The remote MX is a scripted peer on loopback that counts
its open connections; the queue is filled while held, then released."""
import threading
import time

import pytest

from loftenv import free_port
from loft_queue_helpers import (Dns, Fake, assert_clean, rows, set_setting, start_loft, submit,
                                wait_rows)

PORT = free_port()


class Counter:
    """Per connection: how many were open (this one included) and how many
    messages the MX had accepted when it came."""

    def __init__(self, limit=None, data_delay=0.2):
        self.lock = threading.Lock()
        self.open = 0
        self.delivered = 0
        self.starts = []  # (open, delivered)
        self.refused = 0
        self.limit = limit
        self.delay = data_delay

    def script(self, fake, c, f):
        with self.lock:
            self.open += 1
            self.starts.append((self.open, self.delivered))
            over = self.limit is not None and self.open > self.limit
            if over:
                self.refused += 1
        try:
            if over:
                c.sendall(b"421 4.7.0 too many connections from you\r\n")
                return
            c.sendall(b"220 counting ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    c.sendall(b"250-counting\r\n250 8BITMIME\r\n")
                elif cmd.startswith(b"MAIL") or cmd.startswith(b"RCPT") or cmd == b"RSET":
                    c.sendall(b"250 ok\r\n")
                elif cmd == b"DATA":
                    c.sendall(b"354 go\r\n")
                    while True:
                        l = f.readline()
                        if not l or l == b".\r\n":
                            break
                    # long enough for sessions to overlap
                    time.sleep(self.delay)
                    with self.lock:
                        self.delivered += 1
                    c.sendall(b"250 ok\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    c.sendall(b"502 no\r\n")
        finally:
            with self.lock:
                self.open -= 1


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue-slowstart")
    dns = Dns(tmp, mx={"grow.test": [(10, "mx.grow.test")],
                       "small.test": [(10, "mx.small.test")]},
              a={"mx.grow.test": "127.0.0.2", "mx.small.test": "127.0.0.3"})
    grow, small = Counter(), Counter(limit=1, data_delay=0.05)
    fakes = [Fake("127.0.0.2", PORT, grow.script), Fake("127.0.0.3", PORT, small.script)]
    # held (smarthost mode without a smarthost) while the queue fills
    loft = start_loft(tmp, dns, conf={"queue.mx_port": str(PORT),
                                      "queue.max_per_destination": "20"},
                      settings={"route.mode": "smarthost"})
    yield loft, grow, small
    loft.stop()
    for f in fakes:
        f.stop()
    dns.stop()
    assert_clean(loft)


def fill_and_release(loft, domain, n):
    for i in range(n):
        submit(loft, ["r%d@%s" % (i, domain)], subject="slow start %d" % i)
    wait_rows(loft, lambda r: sum(1 for x in r if x[1].endswith("@" + domain)) == n)
    set_setting(loft, "route.mode", "direct")
    wait_rows(loft, lambda r: all(x[2] == "done" for x in r if x[1].endswith("@" + domain)),
              timeout=90)
    set_setting(loft, "route.mode", "smarthost")


def test_sessions_start_small_and_grow(env):
    loft, grow, _ = env
    fill_and_release(loft, "grow.test", 30)
    starts = list(grow.starts)
    # never more sessions than the initial two plus one per delivery so far
    assert all(o <= 2 + d for o, d in starts), (starts, loft.log()[-3000:])
    # the first sessions came while nothing was delivered: two at most
    assert starts[0][1] == 0 and max(o for o, d in starts if d == 0) <= 2, starts
    # and with 30 waiting, deliveries opened more than the first two
    assert max(o for o, _ in starts) >= 4, (starts, loft.log()[-3000:])


def test_failed_sessions_shrink_the_allowance(env):
    loft, _, small = env
    fill_and_release(loft, "small.test", 12)
    log = loft.log()
    # the MX takes one session at a time; extra ones got 421 and the
    # allowance fell back to one session
    assert small.refused >= 1, small.starts
    assert "event=slow-start dest=small.test sessions=1" in log, log[-3000:]
    # each refusal halves the allowance and only a delivery raises it, so
    # refusals stay near one per delivery; without the feedback every
    # refused session would make room for the next one at once
    assert small.refused <= 2 * 12, (small.refused, small.starts)
    assert all(x[2] == "done" for x in rows(loft) if x[1].endswith("@small.test"))
