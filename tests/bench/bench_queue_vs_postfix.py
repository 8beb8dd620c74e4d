"""Outbound delivery: loft-queue against Debian's Postfix, to one sink.

Usage: bench_queue_vs_postfix.py [BUILD_DIR] [--messages N] [--size BYTES]
                                 [--rcpts N] [--domains N] [--only loft|postfix]

The same work for each: N queued SIZE-byte messages, each to one of RCPTS
recipients spread over DOMAINS remote domains, delivered to one Postfix
smtp-sink on 127.0.0.2 (a C sink that says 250 to everything).  Each queue
is filled while it is held (Loft: route held by the route contract;
Postfix: defer_transports = smtp), then released; the clock runs from the
release until the queue is empty.  Loft finds the MX through dnsmasq on
loopback (dns_servers); Postfix cannot use a resolver on another port
than 53, so it gets a transport map to the same sink instead.  Loft signs
every message with DKIM (its shipped behaviour); Postfix does not sign.
Figures: messages per second, CPU seconds per 1000 messages (loft-queue;
all Postfix processes, exited ones included), loft-queue RSS idle (queue
loaded, held) and peak while delivering.
"""
import argparse
import os
import shutil
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import benchlib as bl

SENDER = "bench@example.org"


def body(size, i):
    head = ("From: <%s>\r\nTo: <r@d0.test>\r\nSubject: bench %d\r\n"
            "Date: Mon, 07 Dec 2026 00:00:00 +0000\r\nMessage-ID: <b%d@example.org>\r\n\r\n"
            % (SENDER, i, i))
    line = "The quick brown fox jumps over the lazy dog 0123456789 abcdefghij.\r\n"
    n = max(0, size - len(head))
    return (head + (line * (n // len(line) + 1))[:n]).encode()


def rcpt(i, args):
    r = i % args.rcpts
    return "r%d@d%d.test" % (r, r % args.domains)


def inject(port, args, login=None, threads=4):
    """Sends the messages over SMTP with threads sessions; returns the count."""
    sent = [0]
    lock = threading.Lock()

    def worker(k):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = smtplib.SMTP("127.0.0.1", port, timeout=120)
        if login:
            s.starttls(context=ctx)
            s.login(*login)
        for i in range(k, args.messages, threads):
            s.sendmail(SENDER, [rcpt(i, args)], body(args.size, i))
            with lock:
                sent[0] += 1
        s.quit()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sent[0]


class SmtpSink:
    def __init__(self, port):
        self.p = subprocess.Popen(["smtp-sink", "-u", "nobody", "127.0.0.2:%d" % port, "1024"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 10
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.2", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def stop(self):
        self.p.terminate()
        self.p.wait(10)


def bench_loft(build, args, port):
    miss = bl.loft_missing(build, "queue")
    if miss:
        return miss
    import loft_queue_helpers as qh
    from loftenv import Loft
    td = tempfile.mkdtemp(prefix="loftbench-queue-")
    os.chmod(td, 0o755)
    dns = qh.Dns(td, mx={"d%d.test" % d: [(10, "mx.d%d.test" % d)] for d in range(args.domains)},
                 a={"mx.d%d.test" % d: "127.0.0.2" for d in range(args.domains)})
    loft = Loft(td, enable=["smtpd", "queue"],
                conf={"dns_servers": dns.servers, "queue.mx_port": str(port),
                      "smtpd.greeting_delay_ms": "0", "log_level": "info",
                      "smtpd.max_recipients": "1000",
                      **({"queue.sign_threads": str(args.sign_threads)}
                         if args.sign_threads is not None else {}),
                      **({"queue.max_per_destination": str(args.per_dest),
                          "queue.max_connections": str(args.per_dest * args.domains)}
                         if args.per_dest else {})})
    try:
        loft.add_domain("example.org")
        loft.add_user(SENDER, "benchpw")
        if args.no_dkim:
            c = qh.db(loft, write=True)
            with c:
                c.execute("DELETE FROM dkim_keys")
            c.close()
        for k, v in (("route.mode", "auto"), ("route.verdict", "relay")):
            qh.set_setting(loft, k, v)
        loft.start()
        t0 = time.time()
        n = inject(loft.port("submission"), args, login=(SENDER, "benchpw"))
        inj = time.time() - t0
        pid = loft.children()["loft-queue"]
        time.sleep(2)
        idle = bl.proc_status_kb(pid, "VmRSS")
        idle_pss = bl.pss_kb(pid)
        reset = bl.reset_peak(pid)
        cpu0 = bl.cpu_seconds([pid])
        db = qh.db(loft)
        with bl.RssSampler(lambda: {pid: "loft-queue"}) as smp:
            start = time.time()
            qh.set_setting(loft, "route.mode", "direct")
            left = n
            while time.time() - start < args.timeout:
                left = db.execute("SELECT count(*) FROM queue WHERE status IN"
                                  " ('queued', 'deferred')").fetchone()[0]
                if left == 0:
                    break
                time.sleep(0.05)
            el = time.time() - start
        cpu = bl.cpu_seconds([pid]) - cpu0
        done = db.execute("SELECT count(*) FROM queue WHERE status = 'done'").fetchone()[0]
        db.close()
        return {"n": n, "done": done, "left": left, "elapsed": el, "rate": done / el,
                "cpu": cpu, "idle": idle, "idle_pss": idle_pss, "peak": smp.peak.get(pid, 0),
                "hwm": bl.proc_status_kb(pid, "VmHWM") if reset else None, "inject_s": inj}
    finally:
        loft.stop()
        dns.stop()
        shutil.rmtree(td, True)


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-loftbench-out
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = postfix.bench.invalid
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
transport_maps = inline:{{ {maps} }}
defer_transports = {defer}
"""


def postfix_cpu(master):
    """CPU of the master and its live children plus what exited children
    used (the master's cutime/cstime, counted once it reaped them)."""
    tck = os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/%d/stat" % master) as f:
            st = f.read()
    except OSError:
        return 0.0
    rest = st[st.rindex(")") + 2:].split()
    own = (int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])) / tck
    return own + bl.cpu_seconds(list(bl.descendants(master)))


def bench_postfix(args, port):
    if not shutil.which("postfix"):
        return "not installed (sh board/deps.sh bench)"
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_smtp_vs_postfix import MASTER_CF
    td = tempfile.mkdtemp(prefix="loftbench-pfout-")
    os.chmod(td, 0o755)
    cf = os.path.join(td, "etc")
    os.makedirs(cf)
    os.makedirs(os.path.join(td, "spool"))
    pport = bl.free_port()
    maps = ", ".join("d%d.test=smtp:[127.0.0.2]:%d" % (d, port) for d in range(args.domains))

    def write(defer):
        with open(os.path.join(cf, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(dir=td, maps=maps, defer=defer))
    write("smtp")
    with open(os.path.join(cf, "master.cf"), "w") as f:
        f.write(MASTER_CF.format(port="127.0.0.1:%d" % pport))
    run = lambda *a: subprocess.run(["postfix", "-c", cf] + list(a), capture_output=True,
                                    text=True, timeout=60)
    try:
        p = run("start")
        if p.returncode != 0 or not bl.wait_port(pport):
            log = ""
            try:
                log = open(os.path.join(td, "maillog")).read()[-1500:]
            except OSError:
                pass
            return "postfix did not start: %s%s%s" % (p.stdout, p.stderr, log)
        t0 = time.time()
        n = inject(pport, args)
        inj = time.time() - t0

        def queued():
            c = 0
            for q in ("incoming", "active", "deferred", "maildrop", "hold"):
                for _, _, files in os.walk(os.path.join(td, "spool", q)):
                    c += len(files)
            return c
        # wait until everything sits in the queue (cleanup done)
        end = time.time() + 60
        while time.time() < end and queued() < n:
            time.sleep(0.1)
        with open(os.path.join(td, "spool", "pid", "master.pid")) as f:
            master = int(f.read().split()[0])
        cpu0 = postfix_cpu(master)
        write("")
        start = time.time()
        run("reload")
        subprocess.run(["postqueue", "-c", cf, "-f"], capture_output=True, timeout=60)
        left = n
        while time.time() - start < args.timeout:
            left = queued()
            if left == 0:
                break
            time.sleep(0.05)
        el = time.time() - start
        cpu = postfix_cpu(master) - cpu0
        return {"n": n, "done": n - left, "left": left, "elapsed": el,
                "rate": (n - left) / el, "cpu": cpu, "inject_s": inj}
    finally:
        run("stop")
        time.sleep(1)
        shutil.rmtree(td, True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?")
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--size", type=int, default=10240)
    ap.add_argument("--rcpts", type=int, default=50)
    ap.add_argument("--domains", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--only", choices=("loft", "postfix"))
    ap.add_argument("--per-dest", type=int, default=0,
                    help="loft-queue sessions per destination (default: its own)")
    ap.add_argument("--sign-threads", type=int, default=None,
                    help="loft-queue DKIM signing threads (default: its own; 0 signs on the loop)")
    ap.add_argument("--no-dkim", action="store_true",
                    help="Loft without DKIM signing (Postfix never signs)")
    args = ap.parse_args()
    build = bl.build_dir(sys.argv)
    bl.say("queue: %d messages of %d bytes to %d recipients at %d domains, one smtp-sink; "
           "Loft DKIM %s; %d cores, load %.2f" % (
               args.messages, args.size, args.rcpts, args.domains,
               "off" if args.no_dkim else "on", os.cpu_count(), os.getloadavg()[0]))
    if not shutil.which("smtp-sink"):
        bl.say("smtp-sink missing (postfix package): sh board/deps.sh bench")
        return 1
    port = bl.free_port()
    sink = SmtpSink(port)
    try:
        L = bench_loft(build, args, port) if args.only != "postfix" else "skipped"
        P = bench_postfix(args, port) if args.only != "loft" else "skipped"
    finally:
        sink.stop()
    for name, r in (("loft-queue", L), ("postfix", P)):
        if isinstance(r, str):
            bl.say("%s: %s" % (name, r))
        else:
            bl.say("%s: %d of %d delivered in %.1f s (%d left; filling took %.1f s)" % (
                name, r["done"], r["n"], r["elapsed"], r["left"], r["inject_s"]))
    L = L if isinstance(L, dict) else None
    P = P if isinstance(P, dict) else None
    perk = lambda r: r["cpu"] / r["done"] * 1000 if r and r["done"] else None
    bl.table([
        ["messages/s to the sink's 250", "%.0f" % L["rate"] if L else "-",
         "%.0f" % P["rate"] if P else "-", bl.ratio(L and L["rate"], P and P["rate"], True)],
        ["CPU s per 1000 messages", "%.2f" % perk(L) if L else "-",
         "%.2f" % perk(P) if P else "-", bl.ratio(perk(L), perk(P), False)],
        ["loft-queue RSS idle (queue loaded)", bl.fmt_kb(L["idle"]) if L else "-", "", ""],
        ["loft-queue PSS idle (libraries shared)", bl.fmt_kb(L["idle_pss"]) if L else "-", "",
         ""],
        ["loft-queue RSS peak delivering",
         bl.fmt_kb(max(L["peak"], L["hwm"] or 0)) if L else "-", "", ""],
    ], ["", "loft-queue", "postfix", "loft / postfix"])
    bl.say("load average after: %.2f" % os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
