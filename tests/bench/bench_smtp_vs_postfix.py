"""SMTP throughput and memory: loft-smtpd against Debian's Postfix.

Usage: bench_smtp_vs_postfix.py [BUILD_DIR] [--seconds S] [--clients N]
                                [--size BYTES] [--users N] [--only loft|postfix]

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


def measured(port, users, args, get_pids):
    """Runs the load against port while sampling the server processes;
    returns the load dict plus idle/peak memory and server CPU."""
    time.sleep(1.0)
    pids = get_pids()
    idle_sum = sum(bl.proc_status_kb(p, "VmRSS") for p in pids)
    reset = all([bl.reset_peak(p) for p in pids])
    cpu0 = bl.cpu_seconds(pids)
    with bl.RssSampler(get_pids, 0.05) as smp:
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
               server_cpu=cpu1 - cpu0)
    return res


# ---------------------------------------------------------------- loft ---

def bench_loft(build, args):
    """Returns the measurement dict for Loft, or a string saying why not."""
    why = bl.loft_missing(build, "smtpd")
    if why:
        return "not built (%s)" % why
    from loftenv import Loft
    td = tempfile.mkdtemp(prefix="loftbench-smtp-")
    loft = None
    try:
        # All clients come from 127.0.0.1 and keep one session each for the
        # whole run, so raise the per-address and per-session abuse limits;
        # every other setting is the shipped default.
        loft = Loft(td, enable=["smtpd"], conf={
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
        res = measured(loft.port("mx"), users, args, pids)
        res["loftd_rss"] = bl.proc_status_kb(loft.proc.pid, "VmRSS")
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


def bench_postfix(args):
    """Returns the measurement dict for Postfix, or a string saying why not."""
    if not shutil.which("postfix"):
        return "not installed (sh board/deps.sh bench)"
    td = tempfile.mkdtemp(prefix="loftbench-postfix-")
    pf = None
    try:
        users = [("u%d@%s" % (i, DOMAIN)).encode() for i in range(args.users)]
        pf = Postfix(td, users)
        pf.start()
        res = measured(pf.port, users, args, pf.pids)
        res["delivered"] = pf.delivered()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 120 and (pf.queued() or pf.delivered() < res["ok"]):
            time.sleep(0.1)
        res["drained"] = pf.delivered()
        res["drain_s"] = time.monotonic() - t0
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
    args = ap.parse_args()
    build = bl.build_dir(sys.argv)
    bl.say("smtp: %d clients, %d-byte messages to %d local users, %.0f s per server; "
           "%d cores" % (args.clients, args.size, args.users, args.seconds, os.cpu_count()))

    loft = bench_loft(build, args) if args.only != "postfix" else "skipped (--only)"
    pf = bench_postfix(args) if args.only != "loft" else "skipped (--only)"

    for name, r in (("loft-smtpd", loft), ("postfix", pf)):
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
    L = loft if isinstance(loft, dict) else None
    P = pf if isinstance(pf, dict) else None

    def g(r, k, f=lambda v: v):
        return f(r[k]) if r and r.get(k) is not None else "-"

    def per_k(r):
        return r["server_cpu"] / r["ok"] * 1000 if r and r["ok"] else None
    rows = [
        ["messages/s durably accepted", g(L, "rate", "{:.0f}".format),
         g(P, "rate", "{:.0f}".format),
         ratio(L and L["rate"], P and P["rate"], True)],
        ["  delivered within run", g(L, "delivered", "{} in store".format),
         g(P, "delivered", "{} in Maildir".format), ""],
        ["  delivered after queue drain", g(L, "drained"),
         (("%d (+%.1f s)" % (P["drained"], P["drain_s"])) if P else "-"), ""],
        ["server CPU s per 1000 msgs", "%.2f" % per_k(L) if L else "-",
         "%.2f" % per_k(P) if P else "-", ratio(per_k(L), per_k(P), False)],
        ["client CPU (% of one core)",
         g(L, "client_cpu", lambda v: "%.0f%%" % (100 * v / L["elapsed"])),
         g(P, "client_cpu", lambda v: "%.0f%%" % (100 * v / P["elapsed"])), ""],
        ["RSS idle (server processes)", g(L, "idle_sum", bl.fmt_kb),
         g(P, "idle_sum", lambda v: "%s (%d procs)" % (bl.fmt_kb(v), P["idle_n"])),
         ratio(L and L["idle_sum"], P and P["idle_sum"], False)],
        ["RSS peak under load, sum", g(L, "peak_sum", bl.fmt_kb),
         g(P, "peak_sum", lambda v: "%s (%d procs)" % (bl.fmt_kb(v), P["peak_n"])),
         ratio(L and L["peak_sum"], P and P["peak_sum"], False)],
        ["PSS peak under load, sum", g(L, "peak_pss", bl.fmt_kb), g(P, "peak_pss", bl.fmt_kb),
         ratio(L and L["peak_pss"], P and P["peak_pss"], False)],
        ["largest single process (VmHWM)", g(L, "peak_one", bl.fmt_kb),
         g(P, "peak_one", lambda v: "%s (%s)" % (bl.fmt_kb(v), P["peak_one_name"])),
         ratio(L and L["peak_one"], P and P["peak_one"], False)],
    ]
    bl.table(rows, ["", "loft-smtpd", "postfix", "ratio loft/postfix"])
    bl.say("  server processes: loft = loft-smtpd alone (it also delivers into the store); "
           "postfix = master and every child (smtpd, cleanup, qmgr, trivial-rewrite, virtual, "
           "anvil, ...).  RSS sums count shared pages once per process; PSS splits them.")
    if L:
        bl.say("  loftd (supervisor) RSS: %s; issue 3 target: rate >= postfix, "
               "loft-smtpd < 4 MiB under load" % bl.fmt_kb(L["loftd_rss"]))
    if not L:
        bl.say("loft-smtpd: not built, no ratio" if "not built" in str(loft)
               else "loft-smtpd: no figures, no ratio")


ratio = bl.ratio

if __name__ == "__main__":
    main()
