"""Profiles which code and read-only data each role of the static
multi-call program touches and writes the link order (issue 14):

    static_order.py [STATIC_BUILD] [--out board/static.order] [--seconds 4]

(`make static-order`, as root: it reads the daemons' /proc/PID/pagemap.)

Why: every role lives in one file `loft`; a role maps the pages of that
file it touches, and the functions one role uses were spread over the whole
2.9 MB of code between the other roles' functions.  Ordered by this file,
the code loft-smtpd runs sits together at the start, then what loft-queue
adds, and so on, each role's functions next to each other.

How: Loft from STATIC_BUILD (make static-order passes BUILD/prof: the same
objects linked with every code and read-only data section on pages of its
own, board/static-profile.ld) runs every daemon (tests/integration/loftenv.py)
with exact faults (board/multicall.c: no fault-around, so a present page is
a page the process touched) under a short workload: the SMTP benchmark's two
shapes (sessions with PIPELINING, and one message per connection with
smtp-source when installed), mail over STARTTLS and authenticated
submission, loft-queue delivering what was submitted (DKIM-signed, direct
route: MX lookup through dnsmasq on loopback, PIPELINING to Postfix's
smtp-sink on 127.0.0.2; issue 10: its delivery path was not in the
profile), an IMAP session (STARTTLS, LOGIN, SELECT, FETCH, SEARCH, IDLE
wake-up by the new mail) and a page of loft-admin.  Then each process's
present pages of `loft` are read from /proc/PID/pagemap and every symbol
(`nm`) on a present page counts as touched by that role: in the profiling
link those are the symbols of one section (one function, or one object
file of a library built without -ffunction-sections), on an ordinary link
of every section sharing the page.  The order: first
what loft-smtpd ran for plain MX mail (the benchmark's two shapes, run
first; its hot path, so under fault-around it maps few of its other
pages), then roles in ROLE_ORDER, each adding the symbols it touched that
no earlier role did (loft-smtpd's TLS, submission and the like first);
within a role, symbols touched by more roles first (shared code such as
malloc, SQLite's B-tree, sits at the start where the next roles' code is
near), then by address (neighbours in the old layout were neighbours in the
source).  lld puts each named symbol's section in
that order (--symbol-ordering-file); a symbol no longer linked is skipped,
so an old profile only loses precision.  Needs Linux 6.7 (exact faults).
Pages are read every 0.1 s from the daemons' "ready" on (a daemon drops
its pages of the program after start-up and when idle, lib/core/pages.h):
code only start-up runs is left out, after the ordered code.
"""
import argparse
import imaplib
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import loftenv  # noqa: E402
import bench_smtp_vs_postfix as bsmtp  # noqa: E402

TOP = loftenv.TOP
# loft-smtpd first: its memory is the issue-14 target
ROLE_ORDER = ["loft-smtpd", "loft-queue", "loft-imapd", "loftd", "loft-netwatch", "loft-admin"]
PAGE = os.sysconf("SC_PAGE_SIZE")


def present_pages(pid, exe):
    """Addresses (relative to the load address) of the pages of exe that
    pid maps read-only and has present."""
    maps = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            p = line.split()
            if len(p) >= 6 and os.path.realpath(p[5]) == exe:
                lo, hi = (int(x, 16) for x in p[0].split("-"))
                maps.append((lo, hi, p[1], int(p[2], 16)))
    if not maps:
        return set()
    base = min(lo - off for lo, _, _, off in maps)  # a PIE's first segment: vaddr = offset
    out = set()
    with open("/proc/%d/pagemap" % pid, "rb") as pm:
        for lo, hi, perms, _ in maps:
            if "w" in perms:
                continue
            pm.seek(lo // PAGE * 8)
            data = pm.read((hi - lo) // PAGE * 8)
            for i in range(len(data) // 8):
                if int.from_bytes(data[i * 8:i * 8 + 8], "little") >> 63:
                    out.add(lo - base + i * PAGE)
    return out


def symbols(exe):
    """[(addr, size, name)] of the code and read-only data symbols."""
    out = []
    nm = subprocess.run(["nm", "-S", "--defined-only", exe], capture_output=True, text=True,
                        check=True).stdout
    for line in nm.splitlines():
        p = line.split()
        if len(p) != 4 or p[2] not in "tTrRwWiV" or not p[3].isprintable():
            continue
        out.append((int(p[0], 16), max(int(p[1], 16), 1), p[3]))
    return out


# loft-queue's delivery: remote recipients at these domains, their MX on
# 127.0.0.2 (Postfix's smtp-sink), found through dnsmasq
REMOTE = ["d%d.test" % d for d in range(2)]
OUTBOUND = 20


def wait_delivered(loft, timeout=60):
    """Waits until loft-queue has delivered (or given up on) every entry."""
    import loft_queue_helpers as qh
    end = time.time() + timeout
    left = -1
    while time.time() < end:
        db = qh.db(loft)
        try:
            left = db.execute("SELECT count(*) FROM queue WHERE status IN"
                              " ('queued', 'deferred')").fetchone()[0]
            done = db.execute("SELECT count(*) FROM queue WHERE status = 'done'").fetchone()[0]
        finally:
            db.close()
        if left == 0:
            return done
        time.sleep(0.1)
    sys.exit("static_order: loft-queue left %d entries undelivered" % left)


def workload(loft, seconds, users, mark):
    """The load; mark() is called after the plain MX loads (the benchmark's
    two shapes), before TLS, submission, delivery, IMAP and admin."""
    mx, sub = loft.port("mx"), loft.port("submission")
    ctx = __import__("loft_smtp_helpers").tls_ctx()
    # the benchmark's loads, halved: plain MX mail, the common case
    res = bsmtp.run_load(mx, users, seconds, 10, 10240)
    if shutil.which("smtp-source"):
        bsmtp.run_load_conn(mx, users[1], seconds, 10, 10240, lambda: 0)
    time.sleep(0.3)  # a last sample
    mark()
    with smtplib.SMTP("127.0.0.1", mx, timeout=30) as s:
        s.starttls(context=ctx)
        s.sendmail("x@remote.example", [users[1].decode()], b"Subject: two\r\n\r\ntls\r\n")
    with smtplib.SMTP("127.0.0.1", sub, timeout=30) as s:
        s.starttls(context=ctx)
        s.login(users[0].decode(), "pw-0-bench")
        s.sendmail(users[0].decode(), [users[1].decode(), "far@" + REMOTE[0]],
                   b"From: %s\r\nTo: far@%s\r\nSubject: three\r\n\r\nsub\r\n" %
                   (users[0], REMOTE[0].encode()))
        # several messages to two domains: connection reuse, PIPELINING
        for i in range(OUTBOUND):
            to = "r%d@%s" % (i % 3, REMOTE[i % len(REMOTE)])
            s.sendmail(users[0].decode(), [to],
                       b"From: %s\r\nTo: %s\r\nSubject: out %d\r\n\r\n%s\r\n" %
                       (users[0], to.encode(), i, b"x" * 70 + b"\r\n" * i))
    wait_delivered(loft)
    # IMAP: IDLE in one session while mail arrives
    m = imaplib.IMAP4("127.0.0.1", loft.port("imap"), timeout=30)
    m.starttls(ssl_context=ctx)
    m.login(users[1].decode(), "pw-1-bench")
    m.select("INBOX")
    m.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
    m.fetch("1", "(BODY.PEEK[])")
    m.search(None, "TEXT", "tls")
    m.store("1", "+FLAGS", "(\\Seen)")
    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    m.readline()
    with smtplib.SMTP("127.0.0.1", mx, timeout=30) as s:
        s.sendmail("x@remote.example", [users[1].decode()], b"Subject: four\r\n\r\nidle\r\n")
    time.sleep(0.5)
    m.send(b"DONE\r\n")
    while not m.readline().startswith(tag.encode()):
        pass
    m.logout()
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/" % loft.port("http"), timeout=30).read()
    except OSError:
        pass  # a redirect to the login page or a refusal: the server ran
    time.sleep(2)  # idle timers: greeting passes written, heap trimmed
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(TOP, "build-static", "prof"))
    ap.add_argument("--out", default=os.path.join(TOP, "board", "static.order"))
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    exe = os.path.realpath(os.path.join(build, "loft"))
    loftenv.BUILD = build
    td = tempfile.mkdtemp(prefix="loft-order-")
    os.environ.pop("LOFT_FAULT_AROUND", None)
    import loft_queue_helpers as qh
    if not shutil.which("smtp-sink") or not shutil.which("dnsmasq"):
        sys.exit("static_order: needs smtp-sink and dnsmasq (sh board/deps.sh bench test)")
    os.chmod(td, 0o755)
    dns = qh.Dns(td, mx={d: [(10, "mx." + d)] for d in REMOTE},
                 a={"mx." + d: "127.0.0.2" for d in REMOTE})
    sink_port = loftenv.free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", "127.0.0.2:%d" % sink_port, "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    loft = loftenv.Loft(td, enable=list(loftenv.DAEMONS), conf={
        "log_level": "info", "smtpd.max_connections_per_ip": "40",
        "smtpd.max_commands": "1000000", "admin.require_https": "no",
        "dns_servers": dns.servers, "queue.mx_port": str(sink_port)})
    try:
        loft.add_domain(bsmtp.DOMAIN)
        users = []
        for i in range(5):
            a = "u%d@%s" % (i, bsmtp.DOMAIN)
            loft.add_user(a, "pw-%d-bench" % i)
            users.append(a.encode())
        qh.set_setting(loft, "route.mode", "direct")
        loft.start()
        procs = dict(loft.children(), loftd=loft.proc.pid)
        pages = {n: set() for n in procs}
        stop = threading.Event()

        def sample():  # every 0.1 s: a daemon drops its pages when idle
            while True:
                for n, p in procs.items():
                    pages[n] |= present_pages(p, exe)
                if stop.wait(0.1):
                    break
        t = threading.Thread(target=sample)
        t.start()
        hot = {}

        def mark():  # what loft-smtpd ran for plain MX mail
            hot["loft-smtpd (plain MX)"] = set(pages.get("loft-smtpd", ()))
        try:
            res = workload(loft, args.seconds, users, mark)
        finally:
            stop.set()
            t.join()
    finally:
        loft.stop()
        sink.terminate()
        sink.wait(10)
        dns.stop()
        shutil.rmtree(td, ignore_errors=True)
    if not res["ok"]:
        sys.exit("static_order: no message accepted (%s)" % res["first_error"])
    # with fault-around, present pages come in whole aligned 64 KiB blocks
    blocks = {a // 65536 for a in pages.get("loftd", ())}
    full = sum(1 for b in blocks if all(b * 65536 + i * PAGE in pages["loftd"]
                                        for i in range(65536 // PAGE)))
    if not blocks or full > len(blocks) // 2:
        sys.exit("static_order: loftd's pages of loft come in 64 KiB blocks: no exact "
                 "faults here (board/multicall.c needs Linux 6.7 and userfaultfd)")
    pages.update(hot)
    syms = symbols(exe)
    touched = {}  # name -> set of roles
    first = {}
    for role, pg in pages.items():
        for a, size, name in syms:
            lo, hi = a // PAGE * PAGE, (a + size - 1) // PAGE * PAGE
            if any(x in pg for x in range(lo, hi + PAGE, PAGE)):
                touched.setdefault(name, set()).add(role)
                first[name] = min(first.get(name, a), a)
    roles = list(hot) + [r for r in ROLE_ORDER if r in pages] + sorted(
        set(pages) - set(ROLE_ORDER) - set(hot))
    done, lines = set(), []
    for r in roles:
        mine = [n for n, rs in touched.items() if r in rs and n not in done]
        mine.sort(key=lambda n: (-len(touched[n] - set(hot)), first[n]))
        lines.append("# %s: %d symbols, %d KiB of pages touched" % (
            r, len(mine), len(pages[r]) * PAGE // 1024))
        lines.extend(mine)
        done.update(mine)
    with open(args.out, "w") as f:
        f.write("# generated by tests/bench/static_order.py (make static-order): the link\n"
                "# order of build-static/loft, roles' code together (issue 14)\n")
        f.write("\n".join(lines) + "\n")
    for r in roles:
        print("static_order: %s touched %d KiB of loft" % (r, len(pages[r]) * PAGE // 1024))
    print("static_order: %d symbols written to %s" % (len(done), args.out))


if __name__ == "__main__":
    main()
