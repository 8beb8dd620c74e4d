"""Shared helpers for integration tests: a real `loftd --dev` in a temporary
data directory on free loopback ports, administered with the real loftctl.

    with Loft(tmp_path, enable=["smtpd"]) as loft:
        loft.add_domain("example.org")
        loft.add_user("a@example.org", "pw")
        loft.start()
        smtplib.SMTP("127.0.0.1", loft.port("mx"))
"""
import os
import shutil
import signal
import random
import socket
import subprocess
import tempfile
import time
import weakref

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LOFT_BUILD", os.path.join(TOP, "build"))

# which listeners each daemon gets from loftd (board/loftd.c)
DAEMONS = {
    "smtpd": ["mx", "submission", "submissions"],
    "queue": [],
    "imapd": ["imap", "imaps", "pop3", "pop3s"],
    "admin": ["http", "https"],
    "netwatch": [],
}


def binary(name):
    return os.path.join(BUILD, name)


_GIVEN = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A port free now and below the kernel's ephemeral range: a port the
    kernel handed out (bind to 0) goes back into the pool it also draws
    every outgoing connection's local port from, so another test's client
    could take it before loftd binds it ("Address already in use")."""
    hi = _ephemeral_low() - 1
    lo = 20000 if hi > 21000 else 1024
    for _ in range(500):
        p = random.randint(lo, hi)
        if p in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
        _GIVEN.add(p)
        return p
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def reachable_dir(tmpdir):
    """A directory for the data: tmpdir/data, except as root, where loftd
    runs the daemons as the unprivileged loft user, who cannot reach
    pytest's root-only tmpdir: then a fresh 0755 directory under /tmp, with
    a link to it at tmpdir/data for anyone looking there.  Returns (path,
    top directory to remove afterwards or None)."""
    link = os.path.join(str(tmpdir), "data")
    if os.geteuid() != 0:
        return link, None
    top = tempfile.mkdtemp(prefix="loft-test-", dir="/tmp")
    os.chmod(top, 0o755)
    if not os.path.lexists(link):
        os.symlink(os.path.join(top, "data"), link)
    return os.path.join(top, "data"), top


class Loft:
    def __init__(self, tmpdir, enable=(), conf=None):
        self.dir, top = reachable_dir(tmpdir)
        if top:
            weakref.finalize(self, shutil.rmtree, top, True)
        self.enable = set(enable)
        self.ports = {}
        for d, listeners in DAEMONS.items():
            for l in listeners:
                self.ports[l] = free_port()
        self.proc = None
        self.logpath = os.path.join(str(tmpdir), "loftd.log")
        self.ctl("init")
        lines = ["hostname = loft.test", "log_level = debug", "stop_timeout = 10"]
        for l, p in self.ports.items():
            lines.append("listen.%s = 127.0.0.1:%d" % (l, p))
        for d in DAEMONS:
            lines.append("%s.enabled = %s" % (d, "yes" if d in self.enable else "no"))
        for k, v in (conf or {}).items():
            lines.append("%s = %s" % (k, v))
        with open(os.path.join(self.dir, "loft.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def port(self, listener):
        return self.ports[listener]

    def ctl(self, *args, input=None, check=True):
        """Runs loftctl on this data directory; returns the CompletedProcess."""
        p = subprocess.run([binary("loftctl"), "-d", self.dir] + list(args),
                           input=input, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError("loftctl %s failed (%d): %s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def add_domain(self, domain):
        self.ctl("domain", "add", domain)

    def add_user(self, address, password):
        self.ctl("user", "add", address, input=password + "\n")

    def start(self, timeout=15.0):
        """Starts loftd and returns once every enabled daemon said "ready"
        (loftd holds the listening sockets, so a port that accepts says
        nothing about the daemon behind it)."""
        before = self.log()
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen([binary("loftd"), "-d", self.dir, "--dev"],
                                     stdout=self.logf, stderr=self.logf)
        for d in self.enable:
            for l in DAEMONS[d]:
                if not wait_port(self.ports[l], timeout):
                    raise AssertionError("%s not listening on %d:\n%s" % (
                        l, self.ports[l], self.log()[-3000:]))
        for d in self.enable:
            needle = "event=ready name=loft-%s " % d
            if not self.wait_log(needle, timeout, count=before.count(needle) + 1):
                raise AssertionError("loft-%s not ready:\n%s" % (d, self.log()[-3000:]))
        return self

    def wait_log(self, needle, timeout=10.0, count=1):
        end = time.time() + timeout
        while time.time() < end:
            if self.log().count(needle) >= count:
                return True
            time.sleep(0.05)
        return False

    def log(self):
        try:
            with open(self.logpath, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def children(self):
        """{name: pid} of loftd's live children, read from /proc; a waiting
        standby (started with --standby, see board/loftd.c) is not one of
        them until it serves (it then shows --serving)."""
        out = {}
        if not self.proc:
            return out
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    st = f.read()
            except OSError:
                continue
            comm = st[st.index("(") + 1:st.rindex(")")]
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            state = st[st.rindex(")") + 2:].split()[0]
            # a child inside execve has its new comm before its new
            # argument area: its cmdline reads empty for a moment, and a
            # starting standby would pass for the serving instance
            # (test_supervisor once killed the standby so)
            if ppid == self.proc.pid and state != "Z" and not self._standby(pid) \
                    and not self._in_exec(pid):
                out[comm] = int(pid)
        return out

    def standbys(self):
        """{name: pid} of loftd's children waiting as standbys."""
        out = {}
        if not self.proc:
            return out
        for pid in os.listdir("/proc"):
            if pid.isdigit() and self._standby(pid):
                try:
                    with open("/proc/%s/stat" % pid) as f:
                        st = f.read()
                except OSError:
                    continue
                if int(st[st.rindex(")") + 2:].split()[1]) == self.proc.pid:
                    out[st[st.index("(") + 1:st.rindex(")")]] = int(pid)
        return out

    @staticmethod
    def _in_exec(pid):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                return f.read() == b""
        except OSError:
            return True

    @staticmethod
    def _standby(pid):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                return b"--standby" in f.read().split(b"\0")
        except OSError:
            return False

    def stop(self, timeout=30.0):
        """SIGTERM loftd and wait; returns its exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.logf.close()
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

