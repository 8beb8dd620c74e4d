"""Kill loft-smtpd and loft-imapd again and again while clients deliver
(smtplib, one message per connection) and read (imaplib over TLS): each
time the killed service answers again within a bound, loftd restarts it
with no delay because it was serving, and every message that got its 250
is in the mailbox afterwards, read back over IMAP."""
import email
import imaplib
import os
import re
import signal
import smtplib
import socket
import threading
import time

from loft_imap_helpers import PASS, USER, finish, imap_ssl, start_loft

KILLS = 12
INTERVAL = 0.7
BACK_WITHIN = 3.0  # seconds; restarts take ~50-100 ms, this leaves room for ASan and load
# a client's own recovery includes a new TLS handshake and a yescrypt
# login, which took seconds under ASan on the loaded 2-core machine
RESUME_WITHIN = 20.0


def sender(loft, tag, acked, errors, stop):
    n = 0
    while not stop.is_set():
        subj = "%s-%d" % (tag, n)
        n += 1
        body = ("From: x@remote.example\r\nTo: %s\r\nSubject: %s\r\n\r\n%s" %
                (USER, subj, ("k" * 70 + "\r\n") * 50)).encode()
        try:
            with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=10) as s:
                s.sendmail("x@remote.example", [USER], body)
            acked.append(subj)  # reached only after the 250
        except (smtplib.SMTPException, OSError) as e:
            errors.append(repr(e))
            time.sleep(0.02)


def reader(loft, reads, errors, stop):
    m = None
    while not stop.is_set():
        try:
            if m is None:
                m = imap_ssl(loft, timeout=15)
                m.select("INBOX")
            typ, data = m.search(None, "ALL")
            assert typ == "OK"
            reads.append((time.time(), len(data[0].split())))
            time.sleep(0.02)
        except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError, EOFError) as e:
            errors.append(repr(e))
            m = None
            time.sleep(0.02)
    if m is not None:
        try:
            m.logout()
        except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
            pass


def greeting(port, prefix, timeout):
    """Seconds until a new connection to port gets a line starting with
    prefix, or None after timeout."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                s.settimeout(max(0.1, timeout - (time.time() - t0)))
                if s.recv(64).startswith(prefix):
                    return time.time() - t0
        except OSError:
            pass
        time.sleep(0.01)
    return None


def test_kill_smtpd_and_imapd_while_clients_work(tmp_path):
    loft = start_loft(tmp_path, {USER: PASS}, enable=("smtpd", "imapd"),
                      conf={"smtpd.greeting_delay_ms": "0"})
    try:
        kill_and_check(loft)
    except BaseException:
        loft.stop()  # a failed assertion must not leave the daemons running
        raise
    finish(loft, PASS)


def kill_and_check(loft):
    stop = threading.Event()
    acked, reads, send_err, read_err = [], [], [], []
    threads = [threading.Thread(target=sender, args=(loft, "s%d" % i, acked, send_err, stop))
               for i in range(3)]
    threads.append(threading.Thread(target=reader, args=(loft, reads, read_err, stop)))
    try:
        for t in threads:
            t.start()
        end = time.time() + 15
        while (len(acked) < 10 or len(reads) < 5) and time.time() < end:
            time.sleep(0.05)
        assert len(acked) >= 10 and reads, (len(acked), len(reads), send_err[:3], read_err[:3])
        back = []
        for i in range(KILLS):
            name, port, prefix = (("loft-smtpd", loft.port("mx"), b"220") if i % 2 == 0 else
                                  ("loft-imapd", loft.port("imap"), b"* OK"))
            pid = loft.children()[name]
            t_kill = time.time()
            os.kill(pid, signal.SIGKILL)
            took = greeting(port, prefix, BACK_WITHIN)
            assert took is not None, "%s not back within %.1f s after kill %d:\n%s" % (
                name, BACK_WITHIN, i + 1, loft.log()[-3000:])
            back.append((name, took))
            assert loft.children().get(name) not in (None, pid)
            # the clients carry on through the restart
            n_acked, n_reads = len(acked), len(reads)
            end = t_kill + INTERVAL + RESUME_WITHIN
            while time.time() < end and (len(acked) <= n_acked or len(reads) <= n_reads or
                                         time.time() < t_kill + INTERVAL):
                time.sleep(0.02)
            assert len(acked) > n_acked and len(reads) > n_reads, \
                "clients did not resume after kill %d (%s)" % (i + 1, name)
    finally:
        stop.set()
        for t in threads:
            t.join(20)
    log = loft.log()
    died = re.findall(r"event=child-died name=(\S+) pid=\d+ status=\"signal:KILL\" "
                      r"uptime_ms=\d+ ready=(\d) restart_in_ms=(\d+)", log)
    assert len(died) == KILLS, died
    # every killed instance had been serving: restarted with no delay
    assert all(r == "1" and d == "0" for _, r, d in died), died
    print("back after kill (s):", ", ".join("%s %.3f" % b for b in back))

    # every acknowledged message is in the INBOX, read back over IMAP
    m = imap_ssl(loft)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    subjects = {email.message_from_bytes(d[1])["Subject"] for d in data if isinstance(d, tuple)}
    m.logout()
    lost = [s for s in acked if s not in subjects]
    assert not lost, "%d of %d acknowledged messages lost: %s" % (len(lost), len(acked), lost[:10])
    assert len(acked) >= 20, len(acked)
