"""loftd as a supervisor: restarts a killed daemon at once and logs why,
backs off only when a daemon fails to start,
stops everything on SIGTERM, reloads on SIGHUP, refuses a second loftd on
the same data directory, and drops daemons to the loft user when root."""
import datetime
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pytest

from loftenv import DAEMONS, Loft, binary, wait_port

# the real daemons that are built; the supervisor is tested with them
REAL = [d for d in ("smtpd", "imapd", "admin", "queue", "netwatch")
        if os.access(binary("loft-" + d), os.X_OK)]


def test_some_daemon_is_built():
    assert REAL, "no loft-* daemon built next to loftd"


def wait_children(loft, names, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        ch = loft.children()
        if all(n in ch for n in names):
            return ch
        time.sleep(0.02)
    raise AssertionError("children %s not all up: %s\n%s" % (names, loft.children(), loft.log()[-2000:]))


def comm(d):
    # /proc/PID/comm holds at most 15 characters
    return ("loft-" + d)[:15]


def test_restart_after_sigkill(tmp_path):
    with Loft(tmp_path, enable=REAL) as loft:
        loft.start()
        names = [comm(d) for d in REAL]
        ch = wait_children(loft, names)
        victim = names[0]
        old = ch[victim]
        os.kill(old, signal.SIGKILL)
        t0 = time.time()
        while time.time() - t0 < 2.0:
            now = loft.children().get(victim)
            if now and now != old:
                break
            time.sleep(0.02)
        assert now and now != old, "daemon not back within 2 s"
        assert loft.wait_log('name=%s pid=%d status="signal:KILL"' % ("loft-" + REAL[0], old), 2)
        for l in DAEMONS[REAL[0]]:
            assert wait_port(loft.port(l), 2), "listener %s not served after restart" % l
        # "starting" until the new instance says "ready", then "running"
        end = time.time() + 5
        while True:
            st = loft.ctl("status").stdout
            row = [r for r in st.splitlines() if r.startswith("loft-" + REAL[0])][0]
            f = row.split()
            if f[1] == "running" or time.time() > end:
                break
            time.sleep(0.05)
        assert f[1] == "running" and f[2] == str(now) and f[4] == "1", st
        assert "signal:KILL" in row, st


def test_serving_daemon_restarts_at_once(tmp_path):
    """A daemon killed after it said "ready" is started again with no delay,
    every time (no backoff building up), and serves again quickly."""
    with Loft(tmp_path, enable=REAL[:1]) as loft:
        loft.start()
        name = comm(REAL[0])
        for i in range(5):
            assert loft.wait_log("event=ready name=loft-%s" % REAL[0], 10, count=i + 1), \
                loft.log()[-2000:]
            pid = wait_children(loft, [name])[name]
            os.kill(pid, signal.SIGKILL)
            assert loft.wait_log("restarts=%d" % (i + 1), 5), loft.log()[-2000:]
            died = re.findall(r"pid=%d status=\"signal:KILL\" uptime_ms=\d+ ready=(\d) "
                              r"restart_in_ms=(\d+)" % pid, loft.log())
            assert died == [("1", "0")], (died, loft.log()[-2000:])
        assert loft.wait_log("event=ready name=loft-%s" % REAL[0], 10, count=6)
        downs = [int(d) for d in re.findall(r"event=ready name=loft-%s pid=\d+ startup_ms=\d+ "
                                            r"down_ms=(\d+)" % REAL[0], loft.log())[1:]]
        assert len(downs) == 5, loft.log()[-2000:]
        # well under 100 ms on an idle machine; the bound leaves room for
        # ASan and a loaded shared machine
        assert max(downs) < 2000, downs
        for l in DAEMONS[REAL[0]]:
            assert wait_port(loft.port(l), 2), "listener %s not served after restart" % l


def test_crash_loop_after_ready_backs_off(tmp_path):
    """A daemon that dies right after every start (killed at each ready
    here) is restarted at once 20 times; from the 21st death within 10 s
    on, with a growing delay that its "ready" does not reset."""
    with Loft(tmp_path, enable=REAL[:1]) as loft:
        loft.start()
        name, full = comm(REAL[0]), "loft-" + REAL[0]
        for i in range(23):
            assert loft.wait_log("event=ready name=%s" % full, 10, count=i + 1), \
                loft.log()[-2000:]
            pid = wait_children(loft, [name])[name]
            os.kill(pid, signal.SIGKILL)
            assert loft.wait_log("restarts=%d" % (i + 1), 10), loft.log()[-2000:]
        deaths = [(datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ"), int(d))
                  for t, d in re.findall(r"^(\S+) loftd\[\d+\]: level=warn event=child-died "
                                         r"name=%s pid=\d+ status=\"signal:KILL\" uptime_ms=\d+ "
                                         r"ready=1 restart_in_ms=(\d+)" % full, loft.log(), re.M)]
        assert len(deaths) == 23, deaths
        assert [d for _, d in deaths[:20]] == [0] * 20, deaths
        # the 21st and later: throttled when 20 deaths came before within
        # 10 s (less 0.3 s: loftd's clock is read a little before the log's)
        hot = [(deaths[i][0] - deaths[i - 20][0]).total_seconds() < 9.7 for i in range(20, 23)]
        if not hot[0]:
            pytest.skip("machine: too slow to restart a daemon 20 times in 10 s")
        want, step = [], 250
        for h in hot:
            want.append(step if h else 0)
            step = step * 2 if h else 250
        assert [d for _, d in deaths[20:]] == want, deaths


def test_startup_failure_backs_off(tmp_path):
    """A daemon that dies before "ready" (here: a setting it refuses) is
    retried after 250 ms, 500 ms, 1 s, ...: never a busy loop."""
    bad = {"smtpd": {"smtpd.auth_threads": "999"},
           "imapd": {"imapd.auth_threads": "999"}}
    d = next((d for d in REAL if d in bad), None)
    assert d, "a daemon with a start-up setting to break is built"
    with Loft(tmp_path, enable=[d], conf=bad[d]) as loft:
        loft.proc = None
        loft.logf = open(loft.logpath, "ab")
        loft.proc = subprocess.Popen([binary("loftd"), "-d", loft.dir, "--dev"],
                                     stdout=loft.logf, stderr=loft.logf)
        t0 = time.time()
        assert loft.wait_log("restarts=4", 10), loft.log()[-2000:]
        spent = time.time() - t0
        delays = [int(x) for x in re.findall(r"ready=0 restart_in_ms=(\d+)", loft.log())]
        assert delays[:4] == [250, 500, 1000, 2000], delays
        # four failures took the delays' sum, not a spin
        assert spent >= 1.7, spent
        assert "event=ready" not in loft.log()


def test_sigterm_stops_everything(tmp_path):
    loft = Loft(tmp_path, enable=REAL)
    loft.start()
    pids = list(wait_children(loft, [comm(d) for d in REAL]).values())
    rc = loft.stop()
    assert rc == 0, loft.log()[-2000:]
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid) or \
            open("/proc/%d/stat" % pid).read().split(")")[1].split()[0] == "Z", \
            "process %d left behind" % pid
    assert "event=exit" in loft.log()
    st = loft.ctl("status").stdout
    assert "loftd is not running" in st


def test_sighup_reloads(tmp_path):
    with Loft(tmp_path, enable=REAL) as loft:
        loft.start()
        wait_children(loft, [comm(d) for d in REAL])
        loft.proc.send_signal(signal.SIGHUP)
        # loftd and every daemon log the reload
        assert loft.wait_log("event=reload", 5, count=1 + len(REAL)), loft.log()[-2000:]


def test_second_loftd_refused(tmp_path):
    with Loft(tmp_path, enable=REAL[:1]) as loft:
        loft.start()
        p = subprocess.run([binary("loftd"), "-d", loft.dir, "--dev"],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode != 0
        assert "already-running" in p.stderr


def test_bad_config_is_a_clear_error(tmp_path):
    loft = Loft(tmp_path, enable=REAL[:1])
    with open(os.path.join(loft.dir, "loft.conf"), "a") as f:
        f.write("this is not a setting\n")
    p = subprocess.run([binary("loftd"), "-d", loft.dir, "--dev"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert "line" in p.stderr and "key = value" in p.stderr


def daemon_ids(pid):
    status = open("/proc/%d/status" % pid).read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    nnp = re.search(r"^NoNewPrivs:\s+(\d)$", status, re.M).group(1)
    return uids, nnp


@pytest.mark.skipif(os.geteuid() != 0, reason="machine: dropping privileges needs root")
def test_dev_as_root_drops_daemons(tmp_path):
    """make run as root: --dev with no user setting still runs no daemon as
    root, but as loft (made if missing) or nobody."""
    try:
        want = pwd.getpwnam("loft").pw_uid
    except KeyError:
        want = None  # loftd makes it
    with Loft(tmp_path, enable=REAL) as loft:
        loft.start()
        ch = wait_children(loft, [comm(d) for d in REAL])
        uid = want if want is not None else pwd.getpwnam("loft").pw_uid
        for name, pid in ch.items():
            uids, nnp = daemon_ids(pid)
            assert uids == [str(uid)] * 4 and uid != 0, (name, uids)
            assert nnp == "1", name
        assert "user=loft" in loft.log()


@pytest.mark.skipif(os.geteuid() != 0, reason="machine: dropping privileges needs root")
def test_binaries_the_daemon_user_cannot_reach(tmp_path):
    """The binaries in a directory only root can enter (a checkout under
    /root): loftd opens each before the drop and execs it by descriptor."""
    hidden = tempfile.mkdtemp(prefix="loft-bin-", dir="/tmp")
    try:
        os.chmod(hidden, 0o700)
        bindir = os.path.join(hidden, "build")
        os.mkdir(bindir)
        for n in ("loftd", "loft-" + REAL[0]):
            shutil.copy2(binary(n), bindir)
        with Loft(tmp_path, enable=REAL[:1]) as loft:
            loft.logf = open(loft.logpath, "ab")
            loft.proc = subprocess.Popen([os.path.join(bindir, "loftd"), "-d", loft.dir, "--dev"],
                                         stdout=loft.logf, stderr=loft.logf)
            assert loft.wait_log("event=ready name=loft-%s" % REAL[0], 15), loft.log()[-2000:]
            pid = loft.children()[comm(REAL[0])]
            assert daemon_ids(pid)[0][0] != "0"
    finally:
        shutil.rmtree(hidden)


@pytest.mark.skipif(os.geteuid() != 0, reason="machine: dropping privileges needs root")
def test_unreachable_datadir_is_a_clear_error(tmp_path):
    hidden = tempfile.mkdtemp(prefix="loft-hidden-", dir="/tmp")
    try:
        os.chmod(hidden, 0o700)
        d = os.path.join(hidden, "data")
        subprocess.run([binary("loftctl"), "-d", d, "init"], check=True, capture_output=True)
        p = subprocess.run([binary("loftd"), "-d", d, "--dev"], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode != 0
        assert "event=datadir-unreachable" in p.stderr and "o+x" in p.stderr, p.stderr
    finally:
        shutil.rmtree(hidden)


@pytest.mark.skipif(os.geteuid() != 0, reason="machine: dropping privileges needs root")
def test_privilege_drop_to_loft_user():
    try:
        pw = pwd.getpwnam("loft")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", "loft"], check=True)
        pw = pwd.getpwnam("loft")
    # a directory the loft user can reach (pytest's tmp is root-only)
    top = tempfile.mkdtemp(prefix="loft-priv-", dir="/tmp")
    os.chmod(top, 0o755)
    loft = Loft(top, enable=REAL, conf={"user": "loft"})
    try:
        loft.start()
        ch = wait_children(loft, [comm(d) for d in REAL])
        for name, pid in ch.items():
            status = open("/proc/%d/status" % pid).read()
            uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
            gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
            groups = re.search(r"^Groups:[ \t]*(.*)$", status, re.M).group(1).split()
            assert uids == [str(pw.pw_uid)] * 4, (name, uids)
            assert gids == [str(pw.pw_gid)] * 4, (name, gids)
            assert groups == [], (name, groups)
            assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), name
        # the daemons can still use the database they now own
        assert os.stat(os.path.join(loft.dir, "loft.db")).st_uid == pw.pw_uid
        # what root reads or writes stays out of the daemons' reach
        st = os.stat(loft.dir)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, pw.pw_gid, 0o1770)
        for sub, mode in (("run", 0o755), ("tls", 0o750)):
            st = os.lstat(os.path.join(loft.dir, sub))
            assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0, sub
            assert st.st_mode & 0o7777 == mode, sub
        st = os.stat(os.path.join(loft.dir, "tls", "key.pem"))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, pw.pw_gid, 0o640)
        st = os.stat(os.path.join(loft.dir, "loft.conf"))
        assert st.st_uid == 0
        assert loft.stop() == 0

        # a compromised daemon (uid loft) tries to steer root's next start
        victim = os.path.join(top, "victim")
        with open(victim, "w") as f:
            f.write("root secret\n")
        os.chmod(victim, 0o600)
        script = r"""
import os, sys
d, victim = sys.argv[1], sys.argv[2]
os.setgroups([]); os.setgid(%d); os.setuid(%d)
res = []
for name in ("loft.conf", "run", "tls"):
    try:
        os.rename(os.path.join(d, name), os.path.join(d, name + ".old")); res.append("moved " + name)
    except OSError:
        pass
for name in ("run/loftd.pid", "run/status.tmp", "tls/cert.pem"):
    try:
        p = os.path.join(d, name)
        if os.path.lexists(p): os.unlink(p)
        os.symlink(victim, p); res.append("planted " + name)
    except OSError:
        pass
os.unlink(os.path.join(d, "loft.db-shm")) if os.path.lexists(os.path.join(d, "loft.db-shm")) else None
os.symlink(victim, os.path.join(d, "loft.db-shm"))
print(" ".join(res))
""" % (pw.pw_gid, pw.pw_uid)
        r = subprocess.run(["/usr/bin/python3", "-c", script, loft.dir, victim],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "", "the loft user could tamper: " + r.stdout
        # root refuses to start on the planted symlink rather than chown through it
        p = subprocess.run([binary("loftd"), "-d", loft.dir], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode != 0 and "unsafe-path" in p.stderr, p.stderr
        st = os.stat(victim)
        assert st.st_uid == 0 and open(victim).read() == "root secret\n"
    finally:
        # a failed assertion must not leave the daemons running
        loft.stop()
        subprocess.run(["rm", "-rf", top])
