"""loft-smtpd's life cycle and the limits that need their own settings: a
graceful stop lets a message in flight finish (250, then 421) while idle
sessions get 421 at once; the total connection limit; the DATA idle
timeout."""
import os
import signal
import time

from loft_smtp_helpers import Raw, assert_clean, inbox, start_loft, strip_trace, wait_for


def test_graceful_stop_finishes_message_in_flight(tmp_path):
    loft = start_loft(tmp_path)
    try:
        idle = Raw(loft.port("mx"))
        assert idle.cmd("EHLO idle.test")[0] == 250
        busy = Raw(loft.port("mx"))
        busy.cmd("EHLO busy.test")
        busy.cmd("MAIL FROM:<x@remote.example>")
        busy.cmd("RCPT TO:<a@example.org>")
        assert busy.cmd("DATA")[0] == 354
        busy.send(b"Subject: in-flight\r\n\r\nfirst half\r\n")
        pid = loft.children()["loft-smtpd"]
        os.kill(pid, signal.SIGTERM)
        code, text = idle.reply()
        assert code == 421 and "4.3.2" in text
        assert idle.closed()
        busy.send(b"second half\r\n.\r\n")
        assert busy.reply()[0] == 250
        code, text = busy.reply()
        assert code == 421
        assert busy.closed()
        # the stopped daemon exited cleanly; loftd restarts it (it did not
        # ask for the stop) and the message is there
        raws = [r for r in inbox(loft, "a@example.org") if b"in-flight" in r]
        assert len(raws) == 1
        assert strip_trace(raws[0]) == b"Subject: in-flight\r\n\r\nfirst half\r\nsecond half\r\n"
        assert wait_for(lambda: "name=loft-smtpd pid=%d status=\"exit:0\"" % pid in loft.log(), 5)
    finally:
        loft.stop()
    assert "Sanitizer" not in loft.log()


def test_total_connection_limit(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.max_connections": "3"})
    try:
        time.sleep(0.3)  # loftenv's port probes wind down
        conns = [Raw(loft.port("mx"), greet=False) for _ in range(5)]
        greetings = [c.reply() for c in conns]
        codes = [g[0] for g in greetings]
        assert codes.count(220) == 3 and codes.count(421) == 2, codes
        assert all("4.7.0 Too many connections" in g[1] for g in greetings if g[0] == 421)
        for c in conns:
            c.close()
        # once they are gone, new clients are served again
        assert wait_for(lambda: Raw(loft.port("mx")).greeting[0] == 220, 5)
    finally:
        loft.stop()
    assert_clean(loft)


def test_data_idle_timeout(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.timeout_data": "1"})
    try:
        with Raw(loft.port("mx")) as r:
            r.cmd("EHLO client.test")
            r.cmd("MAIL FROM:<x@remote.example>")
            r.cmd("RCPT TO:<a@example.org>")
            assert r.cmd("DATA")[0] == 354
            r.send(b"Subject: stalled\r\n\r\npartial")
            t0 = time.time()
            code, text = r.reply()
            assert code == 421 and "4.4.2" in text
            assert 0.8 < time.time() - t0 < 5
            assert r.closed()
        assert not any(b"stalled" in m for m in inbox(loft, "a@example.org"))
    finally:
        loft.stop()
    assert_clean(loft)
