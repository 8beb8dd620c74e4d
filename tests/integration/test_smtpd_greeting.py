"""The early-talker check, postscreen's way: on the MX port a client
address not seen before waits smtpd.greeting_delay_ms for the banner and is
refused with 554 if it talks first; an address that waited once is greeted
at once for smtpd.greeting_pass_ttl; the submission ports never wait.

Passes are kept in the store (table smtp_greet_passes), so a restart of
loft-smtpd, even a SIGKILL, forgets none.

Every client comes from its own loopback address (127.0.0.N) so the tests
do not pass for each other.  "Greeted at once" is checked without a clock:
the client sends EHLO right after connecting, which an address that has to
wait would have answered with 554."""
import os
import signal
import smtplib
import socket
import time

import pytest

from loftenv import Loft
from loft_smtp_helpers import assert_clean, db, start_loft, tls_ctx

# long enough that a client's first line always lands inside the window
DELAY = "3000"


def connect(loft, src, port="mx"):
    s = socket.create_connection(("127.0.0.1", loft.port(port)), timeout=15,
                                 source_address=(src, 0))
    if port == "submissions":
        s = tls_ctx().wrap_socket(s)
    return s


def read_all(s):
    data = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
            if data.count(b"\r\n") >= 2 and b"221" in data:
                break
    finally:
        s.close()
    return data


def talk_first(loft, src, port="mx"):
    """Sends EHLO and QUIT before any greeting; returns all the server said."""
    s = connect(loft, src, port)
    s.sendall(b"EHLO eager.test\r\nQUIT\r\n")
    return read_all(s)


def wait_politely(loft, src):
    """A client that waits for the banner (passes the check)."""
    s = connect(loft, src)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    s.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"221 ")
    s.close()


def greeted_then_served(data):
    lines = data.split(b"\r\n")
    return lines[0].startswith(b"220 ") and any(l.startswith(b"250 ") for l in lines) \
        and b"554" not in data


def test_greeting_pass(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.greeting_delay_ms": DELAY})
    try:
        # a new address that talks first is refused, and is refused again:
        # talking early is no pass
        for _ in range(2):
            data = talk_first(loft, "127.0.0.2")
            assert data.startswith(b"554 5.5.0"), data
            assert b"220" not in data
        # an address that waited once is greeted at once: its early EHLO
        # is answered like any pipelined command
        wait_politely(loft, "127.0.0.3")
        for _ in range(2):
            data = talk_first(loft, "127.0.0.3")
            assert greeted_then_served(data), data
        # a polite client's mail goes through with smtplib too
        with smtplib.SMTP(timeout=15, source_address=("127.0.0.3", 0)) as c:
            c.connect("127.0.0.1", loft.port("mx"))
            c.sendmail("x@remote.example", ["a@example.org"], b"Subject: hi\r\n\r\nhi\r\n")
        # the pass is per address: a neighbour still waits
        assert talk_first(loft, "127.0.0.4").startswith(b"554 5.5.0")
        # submission and submissions never wait, for any address
        assert greeted_then_served(talk_first(loft, "127.0.0.5", "submission"))
        assert greeted_then_served(talk_first(loft, "127.0.0.6", "submissions"))
        # and they do not make an address pass on the MX port
        assert talk_first(loft, "127.0.0.5").startswith(b"554 5.5.0")
        assert "event=greeting-pass peer=127.0.0.3" in loft.log()
        assert "event=early-talker peer=127.0.0.2" in loft.log()
    finally:
        loft.stop()
    assert_clean(loft)


def test_pass_forgotten_after_ttl(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.greeting_delay_ms": DELAY,
                                      "smtpd.greeting_pass_ttl": "1"})
    try:
        wait_politely(loft, "127.0.0.7")
        time.sleep(1.5)  # past the 1 s pass: the address waits again
        assert talk_first(loft, "127.0.0.7").startswith(b"554 5.5.0")
    finally:
        loft.stop()
    assert_clean(loft)


def test_pass_off(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.greeting_delay_ms": DELAY,
                                      "smtpd.greeting_pass_ttl": "0"})
    try:
        wait_politely(loft, "127.0.0.8")
        assert talk_first(loft, "127.0.0.8").startswith(b"554 5.5.0")
    finally:
        loft.stop()
    assert_clean(loft)


def test_bad_setting_refused(tmp_path):
    """An out-of-range ttl stops loft-smtpd with a clear config error."""
    loft = Loft(tmp_path, enable=["smtpd"], conf={"smtpd.greeting_pass_ttl": "99999999"})
    try:
        with pytest.raises(AssertionError):
            loft.start(timeout=5)
        assert "event=config-error key=smtpd.greeting_pass_ttl" in loft.log()
    finally:
        loft.stop()


def stored_passes(loft):
    with db(loft) as c:
        return dict(c.execute("SELECT addr, passed FROM smtp_greet_passes").fetchall())


def test_pass_survives_restart(tmp_path):
    """Passes are written to the store: after a SIGKILL of loft-smtpd (and
    after a whole stop and start) a known address is greeted at once."""
    loft = start_loft(tmp_path, conf={"smtpd.greeting_delay_ms": DELAY})
    try:
        wait_politely(loft, "127.0.0.9")
        end = time.time() + 10
        while time.time() < end and "127.0.0.9" not in stored_passes(loft):
            time.sleep(0.05)
        passes = stored_passes(loft)
        assert "127.0.0.9" in passes and abs(passes["127.0.0.9"] - time.time()) < 60, passes
        pid = loft.children()["loft-smtpd"]
        os.kill(pid, signal.SIGKILL)
        assert loft.wait_log("event=ready name=loft-smtpd ", 20, count=2), loft.log()[-2000:]
        assert "event=greet-passes-loaded count=1" in loft.log()
        assert greeted_then_served(talk_first(loft, "127.0.0.9"))
        assert talk_first(loft, "127.0.0.10").startswith(b"554 5.5.0")
        # a pass made right before a graceful stop is written at the stop
        wait_politely(loft, "127.0.0.11")
    finally:
        loft.stop()
    assert "127.0.0.11" in stored_passes(loft)
    loft.start()
    try:
        assert greeted_then_served(talk_first(loft, "127.0.0.11"))
        assert greeted_then_served(talk_first(loft, "127.0.0.9"))
    finally:
        loft.stop()
    log = loft.log()
    assert log.count("event=child-died name=loft-smtpd") == 1, log[-3000:]  # the SIGKILL
    assert "Sanitizer" not in log and "runtime error" not in log, log[-6000:]
