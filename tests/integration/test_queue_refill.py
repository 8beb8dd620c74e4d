"""loft-queue holds queue.max_connections x 4 due rows in memory and, once
fewer than half of them are left, fills up again at once (smtpd/queue_main.c,
scan).  Here 8 rows (two connections allowed, one session), 13 messages
queued while the route is held, the periodic scan a minute away: one scan
takes 8 rows, and the refill, with 3 still in flight, the other 5 (or
what a scan on the last message's notice left).  It
used to ask for limit - in flight rows, got back mostly the rows in
flight (still waiting in the table, and the oldest), and took 2: a scan
of hundreds of rows for every 2 messages at the bench's size."""
import re

import pytest

from loftenv import free_port
from loft_queue_helpers import (Dns, Sink, assert_clean, rows, set_setting, start_loft, submit,
                                wait_rows)

PORT = free_port()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue-refill")
    dns = Dns(tmp, mx={"refill.test": [(10, "mx.refill.test")]},
              a={"mx.refill.test": "127.0.0.2"})
    mx = Sink("127.0.0.2", PORT)
    # held (smarthost mode without a smarthost) while the queue fills
    loft = start_loft(tmp, dns, conf={"queue.mx_port": str(PORT),
                                      "queue.max_per_destination": "1",
                                      "queue.initial_per_destination": "1",
                                      "queue.max_connections": "2",
                                      "queue.scan_ms": "60000"},
                      settings={"route.mode": "smarthost"})
    yield loft, mx
    loft.stop()
    mx.stop()
    dns.stop()
    assert_clean(loft)


def test_refill_takes_new_rows_while_others_are_in_flight(env):
    loft, mx = env
    for i in range(12):
        submit(loft, ["r%d@refill.test" % i], subject="refill %d" % i)
    wait_rows(loft, lambda r: len(r) == 12)
    assert not mx.messages
    set_setting(loft, "route.mode", "direct")
    # a new message's notice makes loft-queue scan now: it takes 8 rows
    submit(loft, ["r12@refill.test"], subject="refill 12")
    assert mx.wait(13, timeout=30), (len(mx.messages), loft.log()[-3000:])
    wait_rows(loft, lambda r: all(x[2] == "done" for x in r))
    assert len(rows(loft)) == 13
    log = loft.log()
    scans = [(int(t), int(m)) for t, m in re.findall(r"event=scan taken=(\d+) in_memory=(\d+)", log)]
    # each row taken once, never more than 8 in memory
    assert sum(t for t, _ in scans) == 13 and all(m <= 8 for _, m in scans), scans
    # the first scan took 8; a later one took the rest (5, or what a scan
    # on the last message's notice left): the old refill took 2 at a time
    assert scans[0][0] == 8 and max(t for t, _ in scans[1:]) >= 3, scans
