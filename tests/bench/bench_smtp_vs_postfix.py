"""SMTP throughput and memory: loft-smtpd against Debian's Postfix.

Usage: bench_smtp_vs_postfix.py [BUILD_DIR] [--seconds S] [--clients N]
                                [--size BYTES] [--users N] [--only loft|postfix]
                                [--shape session|conn|both] [--static DIR]

Two shapes of load (both by default): "session", below, and "conn", one
message per connection the way MX traffic arrives, driven by Postfix's own
smtp-source.  Loft runs twice, from the static multi-call build that ships
(build-static/, when built) and from the dynamic one; the figures include
the smaps breakdown of loft-smtpd and the PSS of all Loft processes.

The same load goes to each server in turn: N concurrent clients (threads on
raw sockets, PIPELINING when offered), each holding one SMTP session open and
sending SIZE-byte messages to local users, one recipient each, for S seconds.
Counted: messages durably accepted (250 after end of data) per second; RSS
of the server idle and at peak; server CPU per 1000 messages; client CPU (so
a saturated client is visible).  Postfix runs as a private instance under a
temporary directory (own main.cf/master.cf, queue, Maildir base, loopback
port), started with `postfix -c DIR start` and always stopped at the end; the
system's /etc/postfix instance is not touched.  For Postfix we also count
messages delivered to Maildir within the run and after the queue drains.
"""
import argparse
import os
import pwd
import resource
import grp
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import benchlib as bl

DOMAIN = "bench.test"


# ---------------------------------------------------------------- load ---

class Reply(Exception):
    pass


class Client:
    """One SMTP session on a raw socket with a small reply reader."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pipelining = False

    def reply(self):
        """Returns (code, text) of the next complete (multi-line) reply."""
        lines = []
        while True:
            i = self.buf.find(b"\r\n")
            if i < 0:
                d = self.sock.recv(65536)
                if not d:
                    raise Reply("connection closed")
                self.buf += d
                continue
            line, self.buf = self.buf[:i], self.buf[i + 2:]
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                try:
                    return int(line[:3]), b"\n".join(lines)
                except ValueError:
                    raise Reply("bad reply %r" % line[:80])

    def hello(self):
        code, _ = self.reply()
        if code != 220:
            raise Reply("greeting %d" % code)
        self.sock.sendall(b"EHLO client.bench.test\r\n")
        code, text = self.reply()
        if code != 250:
            raise Reply("EHLO %d" % code)
        self.pipelining = b"PIPELINING" in text.upper()

    def send(self, sender, rcpt, data):
        """One transaction; returns the final reply code (250 = accepted)."""
        cmds = [b"MAIL FROM:<" + sender + b">\r\n", b"RCPT TO:<" + rcpt + b">\r\n",
                b"DATA\r\n"]
        codes = []
        if self.pipelining:
            self.sock.sendall(b"".join(cmds))
            codes = [self.reply()[0] for _ in cmds]
        else:
            for c in cmds:
                self.sock.sendall(c)
                codes.append(self.reply()[0])
                if codes[-1] >= 400:
                    break
        if codes[-1] != 354:
            if len(codes) == 3 and codes[2] < 400:
                raise Reply("DATA answered %d" % codes[2])
            self.sock.sendall(b"RSET\r\n")
            self.reply()
            return codes[-1] if codes[-1] >= 400 else 554
        self.sock.sendall(data)
        return self.reply()[0]

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, Reply):
            pass
        self.sock.close()


def make_body(size):
    """Returns the fixed part of a message body: text lines (none starting
    with '.') up to about size bytes in all with the headers."""
    words = ("the quick brown fox jumps over lazy dogs while mail servers "
             "accept durable messages for local users on small boards").split()
    lines, n, i = [], 0, 0
    while n < size - 400:
        line = " ".join(words[(i + k) % len(words)] for k in range(11))
        lines.append(line.encode())
        n += len(line) + 2
        i += 3
    return b"\r\n".join(lines) + b"\r\n.\r\n"


def message(cid, seq, rcpt, body):
    h = ("From: Client %d <c%d@client.bench.test>\r\nTo: <%s>\r\n"
         "Subject: bench message %d from client %d\r\n"
         "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
         "Message-ID: <%d.%d.%d@client.bench.test>\r\n"
         "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" %
         (cid, cid, rcpt.decode(), seq, cid, cid, seq, os.getpid()))
    return h.encode() + body


def run_load(port, users, seconds, nclients, size):
    """Drives the load; returns a dict of counts and timings."""
    body = make_body(size)
    stats = [dict(ok=0, rejected=0, errors=0, first_error="") for _ in range(nclients)]
    clock = [0.0, 0.0, 0.0]  # start, deadline, client CPU at start

    def start_clock():  # runs once, before any thread passes the barrier
        clock[2] = time.process_time()
        clock[0] = time.monotonic()
        clock[1] = clock[0] + seconds
    ready = threading.Barrier(nclients + 1, action=start_clock)

    def worker(cid):
        st = stats[cid]
        c = None
        try:
            c = Client(port)
            c.hello()
        except (OSError, Reply) as e:
            st["errors"] += 1
            st["first_error"] = st["first_error"] or "setup: %s" % e
            c = None
        try:
            ready.wait(120)
        except threading.BrokenBarrierError:
            return
        seq = 0
        while time.monotonic() < clock[1]:
            if c is None:
                try:
                    c = Client(port)
                    c.hello()
                except (OSError, Reply) as e:
                    st["errors"] += 1
                    st["first_error"] = st["first_error"] or str(e)
                    c = None
                    time.sleep(0.1)
                    continue
            rcpt = users[(cid + seq) % len(users)]
            try:
                code = c.send(b"c%d@client.bench.test" % cid, rcpt, message(cid, seq, rcpt, body))
            except (OSError, Reply) as e:
                st["errors"] += 1
                st["first_error"] = st["first_error"] or str(e)
                c.sock.close()
                c = None
                continue
            seq += 1
            if code == 250:
                st["ok"] += 1
            else:
                st["rejected"] += 1
                st["first_error"] = st["first_error"] or "reply %d" % code
        if c:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(nclients)]
    for t in threads:
        t.start()
    ready.wait(120)  # every session greeted and EHLO'd: the clock starts now
    for t in threads:
        t.join()
    elapsed = time.monotonic() - clock[0]
    cpu = time.process_time() - clock[2]
    out = dict(elapsed=elapsed, client_cpu=cpu,
               ok=sum(s["ok"] for s in stats), rejected=sum(s["rejected"] for s in stats),
               errors=sum(s["errors"] for s in stats),
               first_error=next((s["first_error"] for s in stats if s["first_error"]), ""))
    out["rate"] = out["ok"] / elapsed
    return out


def run_load_conn(port, rcpt, seconds, nclients, size, count):
    """One message per connection, the way most MX traffic arrives:
    Postfix's smtp-source (connect, EHLO, MAIL, RCPT, DATA, QUIT, close;
    nclients at once, size-byte messages) for seconds, then stopped.
    count() returns the server's count of accepted messages, read before
    and after (a 250 it sent in the last instant counts as well)."""
    before = count()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen(["smtp-source", "-s", str(nclients), "-l", str(size), "-m", "100000000",
                          "-M", "client.bench.test", "-f", "c@client.bench.test", "-t",
                          rcpt.decode(), "127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        p.wait(seconds)
    except subprocess.TimeoutExpired:
        p.terminate()
    err = p.communicate()[1].decode(errors="replace")
    elapsed = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = count()
    ok = (after - before) if after is not None and before is not None else 0
    return dict(elapsed=elapsed, client_cpu=(ru1.ru_utime + ru1.ru_stime) -
                (ru0.ru_utime + ru0.ru_stime), ok=ok, rejected=0,
                errors=1 if p.returncode not in (0, -signal.SIGTERM) else 0,
                first_error=err.strip().splitlines()[-1] if err.strip() else "",
                rate=ok / elapsed)


def warm_up(port, rcpt):
    """One message by smtp-source before a one-message-per-connection run:
    the client address becomes one the server has seen (Loft greets an
    address that passed its early-talker check at once, as postscreen
    does; the first connection waits smtpd.greeting_delay_ms)."""
    subprocess.run(["smtp-source", "-s", "1", "-l", "1000", "-m", "1", "-M", "client.bench.test",
                    "-f", "c@client.bench.test", "-t", rcpt.decode(), "127.0.0.1:%d" % port],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def measured(port, users, args, get_pids, conn_count=None, all_pids=None, smaps_of=None):
    """Runs the load against port while sampling the server processes;
    returns the load dict plus idle/peak memory and server CPU.  With
    conn_count, the one-message-per-connection shape (run_load_conn).
    all_pids: every process of the server (PSS idle and peak of them all);
    smaps_of: picks the process whose smaps breakdown is kept at its peak."""
    if conn_count:
        warm_up(port, users[0])
    time.sleep(1.0)
    pids = get_pids()
    idle_sum = sum(bl.proc_status_kb(p, "VmRSS") for p in pids)
    idle_all_pss = sum(bl.pss_kb(p) for p in all_pids()) if all_pids else None
    idle_footprint = bl.group_footprint(all_pids()) if all_pids else None
    idle_smaps = bl.smaps_breakdown(smaps_of(pids)) if smaps_of and smaps_of(pids) else None
    reset = all([bl.reset_peak(p) for p in pids])
    cpu0 = bl.cpu_seconds(pids)
    with bl.RssSampler(get_pids, 0.05, smaps_of=smaps_of) as smp, \
            bl.RssSampler(all_pids or get_pids, 0.5, footprint=bool(all_pids)) as smp_all:
        if conn_count:
            res = run_load_conn(port, users[0], args.seconds, args.clients, args.size,
                                conn_count)
        else:
            res = run_load(port, users, args.seconds, args.clients, args.size)
        pids_end = get_pids()
        hwm = {p: bl.proc_status_kb(p, "VmHWM") for p in pids_end}
        cpu1 = bl.cpu_seconds(pids_end)
    for p, v in smp.peak.items():
        hwm[p] = max(hwm.get(p, 0), v)
    one = max(hwm, key=lambda p: hwm[p]) if hwm else None
    res.update(idle_sum=idle_sum, idle_n=len(pids),
               peak_sum=max([smp.peak_sum] + list(hwm.values())), peak_n=len(smp.peak),
               peak_pss=smp.peak_pss_sum, peak_reset=reset,
               peak_one=hwm.get(one), peak_one_name=smp.names.get(one, pids_end.get(one)),
               server_cpu=cpu1 - cpu0, idle_all_pss=idle_all_pss,
               peak_all_pss=smp_all.peak_pss_sum if all_pids else None,
               smaps_peak=smp.smaps, smaps_idle=idle_smaps, idle_footprint=idle_footprint,
               peak_footprint=smp_all.peak_footprint if all_pids else None)
    return res


# ---------------------------------------------------------------- loft ---

def bench_loft(build, args, shape):
    """Returns the measurement dict for Loft built in build, or a string
    saying why not."""
    why = bl.loft_missing(build, "smtpd")
    if why:
        return "not built (%s)" % why
    import loftenv
    loftenv.BUILD = build  # loftenv.binary() reads it at each call
    td = tempfile.mkdtemp(prefix="loftbench-smtp-")
    loft = None
    try:
        # All clients come from 127.0.0.1 (and in the session shape keep
        # one session each for the whole run), so raise the per-address
        # and per-session abuse limits; every other setting is the shipped
        # default, the early-talker check included.  Every daemon that is
        # built runs, so the PSS of all Loft processes is the real one.
        enable = [d for d in loftenv.DAEMONS if not bl.loft_missing(build, d)]
        loft = loftenv.Loft(td, enable=enable, conf={
            "log_level": "info",
            "smtpd.max_connections_per_ip": str(args.clients * 4),
            "smtpd.max_commands": "1000000",
        })
        loft.add_domain(DOMAIN)
        users = []
        for i in range(args.users):
            a = "u%d@%s" % (i, DOMAIN)
            loft.add_user(a, "pw-%d-bench" % i)
            users.append(a.encode())
        loft.start()
        smtpd = loft.children().get("loft-smtpd")
        if not smtpd:
            return "not running (loftd did not spawn loft-smtpd)"

        def pids():
            return {p: n for n, p in loft.children().items() if n == "loft-smtpd"}

        def all_pids():
            # the waiting standby loft-smtpd (smtpd.standby, on by default)
            # is memory the board pays too
            d = {p: n for n, p in loft.children().items()}
            d.update({p: n + " (standby)" for n, p in loft.standbys().items()})
            d[loft.proc.pid] = "loftd"
            return d
        res = measured(loft.port("mx"), users, args, pids,
                       conn_count=(lambda: stored_entries(loft.dir)) if shape == "conn" else None,
                       all_pids=all_pids, smaps_of=lambda ps: next(iter(ps), None))
        res["loftd_rss"] = bl.proc_status_kb(loft.proc.pid, "VmRSS")
        # after the load: each process's RSS/PSS, and the pages of the
        # processes the static program runs (a program built dynamically
        # beside it, like loft-admin, maps its own libc and libraries)
        procs = all_pids()
        res["per_proc"] = ", ".join("%s %d/%d" % (n, bl.proc_status_kb(p, "VmRSS"), bl.pss_kb(p))
                                    for p, n in sorted(procs.items(), key=lambda kv: kv[1]))
        multi = static_progs()
        fp = bl.group_footprint([p for p, n in procs.items() if n in multi])
        res["multi_footprint"] = fp[0] if fp else None
        res["multi_names"] = sorted(n for n in procs.values() if n in multi)
        res["daemons"] = ", ".join(sorted(all_pids().values()))
        if res["ok"] == 0:
            return "no message accepted (%s); log tail:\n%s" % (
                res["first_error"], loft.log()[-1500:])
        loft.stop()
        res["delivered"] = res["drained"] = stored_entries(loft.dir)
        res["drain_s"] = 0.0
        return res
    except Exception as e:  # a daemon still being written may fail any way
        tail = loft.log()[-1500:] if loft else ""
        return "does not work yet: %s: %s\n%s" % (type(e).__name__, e, tail)
    finally:
        if loft:
            loft.stop()
        shutil.rmtree(td, ignore_errors=True)


def static_progs():
    """The programs in the static multi-call program (make static-progs)."""
    p = subprocess.run(["make", "-s", "--no-print-directory", "static-progs"], cwd=bl.TOP,
                       capture_output=True, text=True)
    return set(p.stdout.split())


def stored_entries(datadir):
    """Mailbox entries in DATADIR/loft.db, read after loftd stopped, to
    check that every 250 is in the store; None when the schema has no
    such table (it belongs to lib/store, which may change)."""
    try:
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(datadir, "loft.db"), uri=True)
        try:
            return db.execute("SELECT count(*) FROM entries").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return None


# ------------------------------------------------------------- postfix ---

MASTER_CF = """\
{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
# Private benchmark instance written by tests/bench/bench_smtp_vs_postfix.py.
compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-loftbench
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = postfix.bench.invalid
mydomain = bench.invalid
myorigin = $myhostname
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
# no DNS anywhere: this is a loopback benchmark
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
# local delivery to Maildir (trailing / in the map) for virtual users
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {dir}/vmail
virtual_mailbox_maps = inline:{{ {maps} }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 100
"""


class Postfix:
    """A private Postfix instance under dir; start() and stop()."""

    def __init__(self, dir, users):
        self.dir = dir
        self.cf = os.path.join(dir, "etc")
        self.port = bl.free_port()
        self.users = users
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, grp.getgrnam("nogroup").gr_gid
        os.chmod(dir, 0o755)
        os.makedirs(self.cf)
        os.makedirs(os.path.join(dir, "spool"))  # postfix chdirs there before creating the rest
        vmail = os.path.join(dir, "vmail")
        os.makedirs(vmail)
        os.chown(vmail, self.uid, self.gid)
        maps = ", ".join("%s=%s/" % (u.decode(), u.decode().split("@")[0]) for u in users)
        with open(os.path.join(self.cf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(dir=dir, domain=DOMAIN, maps=maps, uid=self.uid,
                                   gid=self.gid))
        with open(os.path.join(self.cf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port="127.0.0.1:%d" % self.port))
        self.started = False

    def _run(self, *a, check=True):
        p = subprocess.run(["postfix", "-c", self.cf] + list(a), capture_output=True,
                           text=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError("postfix %s: %s%s" % (" ".join(a), p.stdout, p.stderr))
        return p

    def start(self):
        # `postfix start` creates the missing queue directories itself
        # (post-install create-missing), with Postfix's own ownerships
        self.started = True
        self._run("start")
        if not bl.wait_port(self.port):
            raise RuntimeError("postfix not listening on %d: %s" % (self.port, self.maillog()))

    def master_pid(self):
        try:
            with open(os.path.join(self.dir, "spool", "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def pids(self):
        m = self.master_pid()
        if not m:
            return {}
        d = bl.descendants(m)
        d[m] = "master"
        return d

    def delivered(self):
        n = 0
        for u in self.users:
            try:
                n += len(os.listdir(os.path.join(self.dir, "vmail",
                                                 u.decode().split("@")[0], "new")))
            except FileNotFoundError:
                pass
        return n

    def queued(self):
        n = 0
        for q in ("incoming", "active", "deferred", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.dir, "spool", q)):
                n += len(files)
        return n

    def maillog(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        """Stops the instance; kills what is left after 20 s."""
        if not self.started:
            return
        pids = self.pids()
        self._run("stop", check=False)
        end = time.time() + 20
        while time.time() < end and any(bl.proc_stat(p) for p in pids):
            time.sleep(0.1)
        for p in pids:
            s = bl.proc_stat(p)
            if s and s[2] != "Z":
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass


def bench_postfix(args, shape):
    """Returns the measurement dict for Postfix, or a string saying why not."""
    if not shutil.which("postfix"):
        return "not installed (sh board/deps.sh bench)"
    td = tempfile.mkdtemp(prefix="loftbench-postfix-")
    pf = None
    try:
        users = [("u%d@%s" % (i, DOMAIN)).encode() for i in range(args.users)]
        pf = Postfix(td, users)
        pf.start()
        if shape == "conn":
            # Postfix's count of accepted messages: delivered, plus the
            # queue files not yet delivered
            res = measured(pf.port, users, args, pf.pids,
                           conn_count=lambda: pf.delivered() + pf.queued())
        else:
            res = measured(pf.port, users, args, pf.pids)
        res["delivered"] = pf.delivered()
        t0 = time.monotonic()
        want = res["ok"] + (1 if shape == "conn" else 0)  # + the warm-up message
        while time.monotonic() - t0 < 120 and (pf.queued() or pf.delivered() < want):
            time.sleep(0.1)
        res["drained"] = pf.delivered()
        res["drain_s"] = time.monotonic() - t0
        if shape == "conn":
            # every message Postfix accepted is delivered once the queue
            # drained: that count, less the warm-up, is the exact one
            res["ok"] = res["drained"] - 1
            res["rate"] = res["ok"] / res["elapsed"]
        if res["ok"] == 0:
            return "no message accepted (%s): %s" % (res["first_error"], pf.maillog())
        return res
    except Exception as e:
        return "failed: %s: %s\n%s" % (type(e).__name__, e, pf.maillog() if pf else "")
    finally:
        if pf:
            pf.stop()
        shutil.rmtree(td, ignore_errors=True)


# ---------------------------------------------------------------- main ---

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--size", type=int, default=10240)
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--only", choices=("loft", "postfix"))
    ap.add_argument("--shape", choices=("session", "conn", "both"), default="both",
                    help="session: one SMTP session per client for the whole run; "
                    "conn: one message per connection (smtp-source)")
    ap.add_argument("--static", default=None,
                    help="the static multi-call build (default: build-static beside "
                    "the build, if it holds loft)")
    args = ap.parse_args()
    build = bl.build_dir(sys.argv)
    static = args.static or os.path.join(os.path.dirname(build), "build-static")
    builds = [("static", static)] if os.path.exists(os.path.join(static, "loft")) else []
    builds.append(("dynamic", build))
    shapes = ("session", "conn") if args.shape == "both" else (args.shape,)
    if "conn" in shapes and not shutil.which("smtp-source"):
        bl.say("smtp: smtp-source (package postfix) missing: no one-message-per-connection run")
        shapes = tuple(x for x in shapes if x != "conn")
    load = os.getloadavg()
    bl.say("smtp: %d clients, %d-byte messages to %d local users, %.0f s per server; "
           "%d cores; load average %.2f %.2f %.2f" % (
               args.clients, args.size, args.users, args.seconds, os.cpu_count(), *load))
    for shape in shapes:
        report(shape, builds, args)


def report(shape, builds, args):
    bl.say("")
    bl.say("-- shape: %s" % ("one session per client for the whole run (raw sockets, PIPELINING)"
                             if shape == "session" else
                             "one message per connection (Postfix's smtp-source, %d at once; "
                             "one warm-up message first)" % args.clients))
    results = []
    for name, b in builds:
        r = bench_loft(b, args, shape) if args.only != "postfix" else "skipped (--only)"
        results.append(("loft " + name, r, os.getloadavg()[0]))
    pf = bench_postfix(args, shape) if args.only != "loft" else "skipped (--only)"
    results.append(("postfix", pf, os.getloadavg()[0]))

    for name, r, _ in results:
        if isinstance(r, str):
            bl.say("%s: %s" % (name, r))
        else:
            bl.say("%s: %d accepted, %d rejected, %d errors in %.1f s%s" % (
                name, r["ok"], r["rejected"], r["errors"], r["elapsed"],
                (" (first: %s)" % r["first_error"]) if r["first_error"] else ""))
            if not r["peak_reset"]:
                bl.say("%s: could not reset VmHWM (clear_refs): peaks include start-up" % name)
            if r["drained"] is not None and r["drained"] < r["ok"]:
                bl.say("%s: WARNING: %d messages got 250 but only %d were delivered" % (
                    name, r["ok"], r["drained"]))
    R = [(n, r if isinstance(r, dict) else None, la) for n, r, la in results]
    P = R[-1][1]
    L = R[0][1] if len(R) > 1 else None  # the first Loft column: the build that ships

    def g(r, k, f=lambda v: v):
        return f(r[k]) if r and r.get(k) is not None else "-"

    def per_k(r):
        return r["server_cpu"] / r["ok"] * 1000 if r and r["ok"] else None

    def fp(r, k):
        f = r.get(k)
        if not f:
            return "-"
        libc = sum(v for n, v in f[1].items() if n.startswith(("libc.so", "ld-linux")))
        return "%s (libc %s)" % (bl.fmt_kb(f[0]), bl.fmt_kb(libc)) if libc else bl.fmt_kb(f[0])

    def row(label, fn, rat=None):
        return [label] + [fn(r) if r else "-" for _, r, _ in R] + [rat or ""]
    rows = [
        row("messages/s durably accepted", lambda r: "%.0f" % r["rate"],
            ratio(L and L["rate"], P and P["rate"], True)),
        row("  delivered within run", lambda r: g(r, "delivered")),
        row("  delivered after queue drain", lambda r: "%s (+%.1f s)" % (
            g(r, "drained"), r["drain_s"]) if r["drain_s"] else g(r, "drained")),
        row("server CPU s per 1000 msgs", lambda r: "%.2f" % per_k(r),
            ratio(per_k(L), per_k(P), False)),
        row("client CPU (% of one core)",
            lambda r: "%.0f%%" % (100 * r["client_cpu"] / r["elapsed"])),
        row("RSS idle (server processes)", lambda r: "%s (%d procs)" % (
            bl.fmt_kb(r["idle_sum"]), r["idle_n"]),
            ratio(L and L["idle_sum"], P and P["idle_sum"], False)),
        row("RSS peak under load, sum", lambda r: "%s (%d procs)" % (
            bl.fmt_kb(r["peak_sum"]), r["peak_n"]),
            ratio(L and L["peak_sum"], P and P["peak_sum"], False)),
        row("PSS peak under load, sum", lambda r: bl.fmt_kb(r["peak_pss"]),
            ratio(L and L["peak_pss"], P and P["peak_pss"], False)),
        row("largest single process (VmHWM)", lambda r: "%s (%s)" % (
            bl.fmt_kb(r["peak_one"]), r["peak_one_name"]),
            ratio(L and L["peak_one"], P and P["peak_one"], False)),
        row("PSS all Loft processes idle", lambda r: g(r, "idle_all_pss", bl.fmt_kb)),
        row("PSS all Loft processes, peak", lambda r: g(r, "peak_all_pss", bl.fmt_kb)),
        row("Loft's own pages, idle (see below)", lambda r: fp(r, "idle_footprint")),
        row("Loft's own pages, peak", lambda r: fp(r, "peak_footprint")),
        row("  the same, multi-call processes only", lambda r: g(r, "multi_footprint", bl.fmt_kb)),
        row("load average (1 min) after", lambda r: ""),
    ]
    rows[-1] = ["load average (1 min) after"] + ["%.2f" % la for _, _, la in R] + [""]
    bl.table(rows, [""] + [n for n, _, _ in R] + ["ratio %s/postfix" % R[0][0]])
    bl.say("  server processes: loft = loft-smtpd alone (it also delivers into the store); "
           "postfix = master and every child (smtpd, cleanup, qmgr, trivial-rewrite, virtual, "
           "anvil, ...).  RSS sums count shared pages once per process; PSS splits them.  "
           "\"All Loft processes\": loftd and every daemon built (%s).  \"Loft's own pages\": "
           "the distinct physical pages those processes map, each once, none shared out with "
           "other programs as PSS does (libc: the part that is glibc's shared libc and ld.so, "
           "which on the board other programs map too); \"multi-call processes only\": those of "
           "the programs in the static multi-call program (%s), in both builds." %
           (next((r["daemons"] for _, r, _ in R if r and r.get("daemons")), "-"),
            ", ".join(next((r["multi_names"] for _, r, _ in R if r and r.get("multi_names")), []))))
    for n, r, _ in R[:-1]:
        if not r:
            continue
        bl.say("  %s loft-smtpd smaps at its peak: %s" % (n, bl.fmt_breakdown(r["smaps_peak"])))
        bl.say("  %s loft-smtpd smaps idle:        %s" % (n, bl.fmt_breakdown(r["smaps_idle"])))
        bl.say("  %s loftd RSS %s" % (n, bl.fmt_kb(r["loftd_rss"])))
        bl.say("  %s after the load, KiB RSS/PSS per process: %s" % (n, r["per_proc"]))
    if L:
        bl.say("  issue 14 target: rate >= postfix, loft-smtpd < 4 MiB RSS under load and idle "
               "(%s: VmHWM %s, idle %s); static PSS of all Loft processes <= dynamic's" % (
                   R[0][0], bl.fmt_kb(L["peak_one"]), bl.fmt_kb(L["idle_sum"])))


ratio = bl.ratio

if __name__ == "__main__":
    main()
