"""loft-smtpd's standby (board/loftd.c): once loft-smtpd serves, loftd
starts a second instance with --standby that does its whole start-up and
waits without taking connections; when the serving instance dies, that one
is told to serve (the same pid answers the next client) and a new standby
is started.  A dead standby is replaced and the serving instance does not
notice; smtpd.standby = no turns it off.  Every check reads pids, the
command line and loftd's log, never a clock."""
import os
import re
import signal
import smtplib
import socket
import subprocess
import time

from loftenv import binary
from loft_smtp_helpers import db, start_loft

# long enough that a client's first line always lands inside the window
DELAY = "3000"


def wait_for(cond, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    return cond()


def standby_pid(loft):
    """The standby's pid once it said ready (loftd logged standby-ready)."""
    def ready():
        p = loft.standbys().get("loft-smtpd-wait")
        if p and "event=standby-ready name=loft-smtpd pid=%d " % p in loft.log():
            return p
        return None
    p = wait_for(ready)
    assert p, "no standby ready:\n%s" % loft.log()[-3000:]
    return p


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def send_one(loft, tag):
    msg = "From: x@remote.example\r\nSubject: %s\r\n\r\nbody\r\n" % tag
    with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=30) as s:
        s.sendmail("x@remote.example", ["a@example.org"], msg)


def stored_subjects(loft):
    with db(loft) as c:
        return {bytes(r[0]).split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
                for r in c.execute("SELECT raw FROM messages")}


def test_standby_takes_over(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.greeting_delay_ms": "0"})
    try:
        send_one(loft, "before")
        for i in range(3):
            active = loft.children()["loft-smtpd"]
            spare = standby_pid(loft)
            assert spare != active
            # the standby waits: it does not take the connections
            assert b"--standby" in cmdline(spare) and comm(spare) == "loft-smtpd-wait"
            assert b"--standby" not in cmdline(active)
            os.kill(active, signal.SIGKILL)
            # the same process answers: the standby was promoted, not a new one started
            assert wait_for(lambda: loft.children().get("loft-smtpd") == spare), \
                (loft.children(), loft.log()[-3000:])
            assert wait_for(lambda: "loft-smtpd[%d]: level=info event=serving" % spare
                            in loft.log()), loft.log()[-3000:]
            assert "event=standby-promoted name=loft-smtpd pid=%d was_ready=1" % spare \
                in loft.log()
            assert b"--serving" in cmdline(spare) and comm(spare) == "loft-smtpd"
            send_one(loft, "after-%d" % i)
            assert "loft-smtpd[%d]: level=info sid=" % spare in loft.log()
            # and a new standby comes
            assert standby_pid(loft) not in (spare, active)
    finally:
        loft.stop()
    log = loft.log()
    assert {"before", "after-0", "after-1", "after-2"} <= stored_subjects(loft)
    assert log.count("event=child-died name=loft-smtpd") == 3, log[-3000:]
    # promoted, never started anew: one non-standby spawn, at the start
    spawns = [l for l in log.splitlines() if "event=spawn name=loft-smtpd " in l]
    assert len([l for l in spawns if "standby=1" not in l]) == 1, spawns
    assert len([l for l in spawns if "standby=1" in l]) == 4, spawns
    # loftd stopped both instances
    assert log.count("event=child-stopped name=loft-smtpd") == 2, log[-3000:]
    assert "Sanitizer" not in log and "runtime error" not in log, log[-6000:]


def test_standby_has_the_newest_passes(tmp_path):
    """A pass earned after the standby started is in the promoted instance:
    the client's EHLO right after connecting is answered, not refused as
    an early talker."""
    loft = start_loft(tmp_path, conf={"smtpd.greeting_delay_ms": DELAY})
    try:
        spare = standby_pid(loft)
        s = socket.create_connection(("127.0.0.1", loft.port("mx")), timeout=15,
                                     source_address=("127.0.0.21", 0))
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        s.sendall(b"QUIT\r\n")
        assert f.readline().startswith(b"221 ")
        s.close()
        with db(loft) as c:
            assert wait_for(lambda: c.execute(
                "SELECT count(*) FROM smtp_greet_passes WHERE addr = '127.0.0.21'"
            ).fetchone()[0])
        os.kill(loft.children()["loft-smtpd"], signal.SIGKILL)
        assert wait_for(lambda: "loft-smtpd[%d]: level=info event=serving" % spare
                        in loft.log()), loft.log()[-3000:]
        s = socket.create_connection(("127.0.0.1", loft.port("mx")), timeout=15,
                                     source_address=("127.0.0.21", 0))
        s.sendall(b"EHLO eager.test\r\nQUIT\r\n")
        data = b""
        while b"221" not in data:
            d = s.recv(4096)
            if not d:
                break
            data += d
        s.close()
        assert data.startswith(b"220 ") and b"554" not in data, data
        # one not seen anywhere still waits
        s = socket.create_connection(("127.0.0.1", loft.port("mx")), timeout=15,
                                     source_address=("127.0.0.22", 0))
        s.sendall(b"EHLO eager.test\r\n")
        assert s.recv(4096).startswith(b"554 5.5.0")
        s.close()
    finally:
        loft.stop()
    assert re.search(r"loft-smtpd\[%d\]: level=debug sid=\S+ event=greeting-pass "
                     r"peer=127\.0\.0\.21" % spare, loft.log()), loft.log()[-3000:]


def test_dead_standby_is_replaced(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.greeting_delay_ms": "0"})
    try:
        active = loft.children()["loft-smtpd"]
        spare = standby_pid(loft)
        os.kill(spare, signal.SIGKILL)
        assert wait_for(lambda: "event=standby-died name=loft-smtpd pid=%d " % spare
                        in loft.log()), loft.log()[-3000:]
        assert standby_pid(loft) != spare
        assert loft.children().get("loft-smtpd") == active, (loft.children(), loft.log()[-3000:])
        send_one(loft, "served-throughout")
    finally:
        loft.stop()
    log = loft.log()
    assert "event=child-died" not in log, log[-3000:]
    assert "served-throughout" in stored_subjects(loft), log[-3000:]


def test_standby_off(tmp_path):
    loft = start_loft(tmp_path, conf={"smtpd.greeting_delay_ms": "0", "smtpd.standby": "no"})
    try:
        active = loft.children()["loft-smtpd"]
        send_one(loft, "one")  # the instance serves; no standby came meanwhile
        assert not loft.standbys()
        os.kill(active, signal.SIGKILL)
        assert loft.wait_log("event=ready name=loft-smtpd ", 20, count=2), loft.log()[-3000:]
        send_one(loft, "two")
        assert not loft.standbys()
    finally:
        loft.stop()
    log = loft.log()
    assert "standby=1" not in log and "event=standby" not in log, log[-3000:]
    assert {"one", "two"} <= stored_subjects(loft)


def test_standby_flag_only_under_loftd(tmp_path):
    """--standby needs loftd's control socket to be told when to serve."""
    for prog in ("loft-smtpd", "loft-imapd"):
        if not os.access(binary(prog), os.X_OK):
            continue
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOFT_")}
        p = subprocess.run([binary(prog), "-d", str(tmp_path), "--standby"], env=env,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and "--standby is for loftd's children" in p.stderr, \
            (prog, p.returncode, p.stderr)
