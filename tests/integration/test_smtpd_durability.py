"""SIGKILL loft-smtpd while clients are sending: every message that got its
250 must be in the store afterwards (the reply comes only after the
durable commit), and loftd brings loft-smtpd back."""
import os
import signal
import smtplib
import threading
import time

from loft_smtp_helpers import inbox, start_loft, wait_for


errors = []


def sender(loft, tag, acked, stop):
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=5) as s:
                while not stop.is_set():
                    subj = "%s-%d" % (tag, n)
                    n += 1
                    body = ("From: x@remote.example\r\nSubject: %s\r\n\r\n%s\r\n"
                            % (subj, ("z" * 70 + "\r\n") * 30)).encode()
                    s.sendmail("x@remote.example", ["a@example.org", "b@example.org"], body)
                    acked.append(subj)  # only reached after the 250
        except (smtplib.SMTPException, OSError) as e:
            errors.append(repr(e))
            time.sleep(0.05)


def test_sigkill_loses_no_acknowledged_message(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.greeting_delay_ms": "0"})
    try:
        acked, stop = [], threading.Event()
        threads = [threading.Thread(target=sender, args=(loft, "t%d" % i, acked, stop))
                   for i in range(6)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 20, 10)
        for _ in range(2):
            pid = loft.children()["loft-smtpd"]
            os.kill(pid, signal.SIGKILL)
            # loftd restarts it; the senders reconnect and go on
            wait_for(lambda: loft.children().get("loft-smtpd") not in (None, pid), 10)
            n = len(acked)
            wait_for(lambda: len(acked) >= n + 10, 10)
        stop.set()
        for t in threads:
            t.join(15)
        got = set()
        for user in ("a@example.org", "b@example.org"):
            subjects = set()
            for raw in inbox(loft, user):
                for line in raw.split(b"\r\n"):
                    if line.startswith(b"Subject: "):
                        subjects.add(line[9:].decode())
            missing = [s for s in acked if s not in subjects]
            assert not missing, "%d acknowledged messages lost for %s: %s" % (
                len(missing), user, missing[:5])
            got |= subjects
        assert len(acked) >= 40, errors[:5]
        assert "event=child-died name=loft-smtpd" in loft.log()
    finally:
        loft.stop()
    log = loft.log()
    assert "Sanitizer" not in log and "runtime error" not in log, log[-6000:]
