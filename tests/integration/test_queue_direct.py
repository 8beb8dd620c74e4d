"""loft-queue delivering directly: MX lookups through dnsmasq on loopback,
remote MXes played by aiosmtpd on 127.0.0.x, mail submitted through the
real loft-smtpd.  Checks the MX choice (preference, fallback to the next
MX, implicit MX from A), null MX, per-recipient results with a bounce
report in the sender's INBOX, 4xx retried, and byte-exact bodies."""
import email
import time

import pytest

from loftenv import free_port
from loft_queue_helpers import (Dns, Sink, assert_clean, inbox, rows, start_loft,
                                strip_trace, submit, wait_rows, set_setting)

PORT = free_port()
SINKS = {}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue-direct")
    dns = Dns(tmp,
              mx={"example.net": [(10, "mx1.example.net")],
                  "multi.test": [(10, "dead.multi.test"), (20, "mx1.example.net")],
                  "nullmx.test": [(0, ".")],
                  "v6.test": [(10, "mx6.v6.test")]},
              a={"mx1.example.net": "127.0.0.2", "dead.multi.test": "127.0.0.9",
                 "fallback.test": "127.0.0.3"},
              aaaa={"mx6.v6.test": "::1"},
              local=["nothere.test"])
    mx1 = Sink("127.0.0.2", PORT)
    mx3 = Sink("127.0.0.3", PORT)
    mx6 = Sink("::1", PORT)
    SINKS["mx6"] = mx6
    loft = start_loft(tmp, dns, conf={"queue.mx_port": str(PORT)},
                      settings={"route.mode": "direct"})
    yield loft, mx1, mx3
    loft.stop()
    mx1.stop()
    mx3.stop()
    mx6.stop()
    dns.stop()
    assert_clean(loft)


def done(ids):
    return lambda r: all(x[2] in ("done", "bounced") for x in r if x[1] in ids)


def test_direct_two_recipients_one_transaction(env):
    loft, mx1, _ = env
    n = len(mx1.messages)
    msg = submit(loft, ["x@example.net", "y@example.net"])
    assert mx1.wait(n + 1), loft.log()[-3000:]
    frm, rcpts, data, _ = mx1.messages[n]
    assert frm == "a@example.org"
    assert sorted(rcpts) == ["x@example.net", "y@example.net"]
    assert strip_trace(data) == msg
    r = wait_rows(loft, done({"x@example.net", "y@example.net"}))
    assert [x[2] for x in r if x[1] in ("x@example.net", "y@example.net")] == ["done", "done"]
    assert loft.wait_log("event=delivered", 5)
    assert "mx=mx1.example.net addr=127.0.0.2" in loft.log()


def test_implicit_mx_from_a_record(env):
    loft, _, mx3 = env
    n = len(mx3.messages)
    submit(loft, ["z@fallback.test"])
    assert mx3.wait(n + 1), loft.log()[-3000:]
    assert mx3.messages[n][1] == ["z@fallback.test"]


def test_next_mx_when_first_is_down(env):
    loft, mx1, _ = env
    n = len(mx1.messages)
    submit(loft, ["w@multi.test"])
    assert mx1.wait(n + 1), loft.log()[-3000:]
    assert mx1.messages[n][1] == ["w@multi.test"]
    assert "event=connect-failed dest=multi.test mx=dead.multi.test" in loft.log()


def test_one_of_three_refused_bounces_with_report(env):
    loft, mx1, _ = env
    mx1.handler.rcpt_codes["bad@example.net"] = "550 5.1.1 no such user here"
    n = len(mx1.messages)
    before = len(inbox(loft, "a@example.org"))
    submit(loft, ["g1@example.net", "bad@example.net", "g2@example.net"], subject="three")
    assert mx1.wait(n + 1)
    assert sorted(mx1.messages[n][1]) == ["g1@example.net", "g2@example.net"]
    r = wait_rows(loft, done({"g1@example.net", "bad@example.net", "g2@example.net"}))
    st = {x[1]: x[2] for x in r}
    assert st["bad@example.net"] == "bounced" and st["g1@example.net"] == "done"
    end = time.time() + 20
    while time.time() < end and len(inbox(loft, "a@example.org")) == before:
        time.sleep(0.1)
    box = inbox(loft, "a@example.org")
    assert len(box) == before + 1, loft.log()[-3000:]
    rep = email.message_from_bytes(box[-1])
    assert rep.get_content_type() == "multipart/report"
    assert rep.get_param("report-type") == "delivery-status"
    parts = [p.get_content_type() for p in rep.walk()]
    assert "message/delivery-status" in parts and "text/rfc822-headers" in parts
    raw = box[-1].decode()
    assert "Final-Recipient: rfc822; bad@example.net" in raw
    assert "Status: 5.1.1" in raw and "Action: failed" in raw
    assert "550 5.1.1 no such user here" in raw
    assert "Subject: three" in raw  # the original header is in the report
    assert "g1@example.net" not in raw.split("message/delivery-status")[1].split("rfc822-headers")[0]


def test_temporary_failure_is_retried(env):
    loft, mx1, _ = env
    mx1.handler.data_codes.append("421 4.3.0 try again later")
    n = len(mx1.messages)
    submit(loft, ["later@example.net"])
    assert mx1.wait(n + 1, timeout=40), loft.log()[-3000:]
    r = wait_rows(loft, done({"later@example.net"}))
    row = [x for x in r if x[1] == "later@example.net"][0]
    assert row[2] == "done" and row[3] >= 2, row


def test_null_mx_bounces_at_once(env):
    loft, mx1, _ = env
    before = len(inbox(loft, "a@example.org"))
    submit(loft, ["n@nullmx.test"])
    r = wait_rows(loft, done({"n@nullmx.test"}))
    row = [x for x in r if x[1] == "n@nullmx.test"][0]
    assert row[2] == "bounced" and "null MX" in row[4], row
    end = time.time() + 20
    while time.time() < end and len(inbox(loft, "a@example.org")) == before:
        time.sleep(0.1)
    raw = inbox(loft, "a@example.org")[-1].decode()
    assert "Status: 5.1.10" in raw


def test_nonexistent_domain_bounces(env):
    loft, _, _ = env
    submit(loft, ["n@nothere.test"])
    r = wait_rows(loft, done({"n@nothere.test"}))
    row = [x for x in r if x[1] == "n@nothere.test"][0]
    assert row[2] == "bounced" and "does not exist" in row[4], row


def test_ipv6_mx(env):
    loft, _, _ = env
    mx6 = SINKS["mx6"]
    n = len(mx6.messages)
    submit(loft, ["six@v6.test"])
    assert mx6.wait(n + 1), loft.log()[-3000:]
    assert "mx=mx6.v6.test addr=::1" in loft.log()
