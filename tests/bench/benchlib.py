"""Shared helpers for the comparative benchmarks (bench_*_vs_*.py).

Stdlib only (Debian's /usr/bin/python3).  What lives here: where the Loft
build is, free loopback ports, memory figures read from /proc (VmRSS,
VmHWM, peak reset through clear_refs), a background sampler of the summed
RSS of a set of processes, CPU time of processes, process-tree walks, and
the table and ratio printing both benchmarks share.
"""
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))


def build_dir(argv):
    """The Loft build directory: argv[1] (run.sh passes it), else env
    LOFT_BUILD, else TOP/build.  Also exported as LOFT_BUILD so loftenv,
    imported after this call, finds the binaries there."""
    d = None
    for a in argv[1:]:
        if not a.startswith("-"):
            d = a
            break
    d = d or os.environ.get("LOFT_BUILD") or os.path.join(TOP, "build")
    d = os.path.abspath(d)
    os.environ["LOFT_BUILD"] = d
    return d


def loft_missing(build, daemon):
    """Returns None when loftd, loftctl and loft-<daemon> are executables in
    build, else a short reason naming what is missing."""
    missing = [n for n in ("loftd", "loftctl", "loft-" + daemon)
               if not os.access(os.path.join(build, n), os.X_OK)]
    return ("missing " + ", ".join(missing)) if missing else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_status_kb(pid, field):
    """Returns the /proc/PID/status field (VmRSS, VmHWM, ...) in KiB, or 0
    when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def pss_kb(pid):
    """Proportional set size of pid in KiB (shared pages split between the
    processes that map them, so sums over many processes are fair), or 0."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def reset_peak(pid):
    """Resets the kernel's peak-RSS (VmHWM) of pid to its current RSS
    (clear_refs 5, Linux >= 4.0, needs ptrace rights); returns True on
    success, so VmHWM then covers only what follows."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def proc_stat(pid):
    """Returns (comm, ppid, state, cpu seconds user+system) of pid, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    comm = st[st.index("(") + 1:st.rindex(")")]
    rest = st[st.rindex(")") + 2:].split()
    tck = os.sysconf("SC_CLK_TCK")
    return comm, int(rest[1]), rest[0], (int(rest[11]) + int(rest[12])) / tck


def cpu_seconds(pids):
    """Summed user+system CPU seconds of the live processes in pids."""
    total = 0.0
    for p in pids:
        s = proc_stat(p)
        if s:
            total += s[3]
    return total


def descendants(root):
    """Returns {pid: comm} of every live, non-zombie descendant of root."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        s = proc_stat(int(name))
        if s and s[2] != "Z":
            kids.setdefault(s[1], []).append((int(name), s[0]))
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        for c, comm in kids.get(p, ()):
            out[c] = comm
            todo.append(c)
    return out


class RssSampler:
    """Samples, every `interval` seconds in a thread, the RSS of the
    processes get_pids() returns (re-read on each sample, so processes that
    appear mid-run count).  peak_sum is the largest summed VmRSS seen;
    peak[pid] the largest per process; peak_pss_sum the largest summed PSS
    (sampled every pss_interval).  VmHWM read at the end catches short
    spikes between samples; use both."""

    def __init__(self, get_pids, interval=0.02, pss_interval=0.5, smaps_of=None,
                 footprint=False):
        self.get_pids = get_pids
        # group_footprint of all pids at each PSS sample; the largest kept
        self.footprint = footprint
        self.peak_footprint = None
        # smaps_of(pids) -> a pid: its smaps breakdown is kept from the
        # PSS sample where its VmRSS was highest
        self.smaps_of = smaps_of
        self.smaps = None
        self._smaps_rss = -1
        self.interval = interval
        self.pss_interval = pss_interval
        self._next_pss = 0.0
        self.peak_pss_sum = 0
        self.peak_sum = 0
        self.peak = {}
        self.names = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self):
        tot = 0
        pids = self.get_pids()
        now = time.monotonic()
        if now >= self._next_pss:
            # smaps_rollup costs more than status: read it less often
            self._next_pss = now + self.pss_interval
            self.peak_pss_sum = max(self.peak_pss_sum, sum(pss_kb(p) for p in pids))
            if self.footprint:
                fp = group_footprint(pids)
                if fp and (not self.peak_footprint or fp[0] > self.peak_footprint[0]):
                    self.peak_footprint = fp
            sp = self.smaps_of(pids) if self.smaps_of else None
            if sp:
                b = smaps_breakdown(sp)
                tot = sum(v[0] for k, v in b.items() if k != "text_files") if b else -1
                if tot > self._smaps_rss:
                    self._smaps_rss, self.smaps = tot, b
                tot = 0
        for pid, name in pids.items():
            r = proc_status_kb(pid, "VmRSS")
            tot += r
            if r > self.peak.get(pid, 0):
                self.peak[pid] = r
                self.names[pid] = name
        self.peak_sum = max(self.peak_sum, tot)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.sample()


def thread_stack_pointers(pid):
    """The stack pointers of pid's threads blocked in a system call (from
    /proc/PID/task/TID/syscall, whose second-last field is the SP)."""
    sps = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return sps
    for t in tids:
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, t)) as f:
                fields = f.read().split()
            if len(fields) >= 3:
                sps.append(int(fields[-2], 16))
        except (OSError, ValueError):
            pass
    return sps


SMAPS_KINDS = ("text", "data", "heap", "stacks", "anon", "kernel")


def smaps_breakdown(pid):
    """Where pid's memory is, from /proc/PID/smaps: {kind: [rss_kb, pss_kb]}
    for text (executable file mappings), data (other file mappings: rodata,
    relro, .data), heap ([heap], brk), stacks ([stack] and every mapping a
    thread's stack pointer is in), anon (other anonymous memory: malloc's
    mmaps and arenas, .bss, buffers), kernel ([vdso] ...); plus
    "text_files": {file: rss_kb}.  None when the process is gone."""
    sps = thread_stack_pointers(pid)
    out = {k: [0, 0] for k in SMAPS_KINDS}
    files = {}
    try:
        with open("/proc/%d/smaps" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    kind = None
    for line in lines:
        head = line.split(None, 5)
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            perms = head[1]
            path = head[5].strip() if len(head) > 5 else ""
            if path == "[heap]":
                kind = "heap"
            elif path == "[stack]" or any(lo <= sp < hi for sp in sps):
                kind = "stacks"
            elif path.startswith("["):
                kind = "kernel"
            elif path:
                kind = "text" if "x" in perms else "data"
            else:
                kind = "anon"
            cur_path = path
            continue
        if line.startswith("Rss:"):
            kb = int(line.split()[1])
            out[kind][0] += kb
            if kind == "text":
                name = os.path.basename(cur_path)
                files[name] = files.get(name, 0) + kb
        elif line.startswith("Pss:"):
            out[kind][1] += int(line.split()[1])
    out["text_files"] = files
    return out


def fmt_breakdown(b):
    """One line: kind rss/pss for each kind, and the text by file."""
    if not b:
        return "-"
    parts = ["%s %d/%d" % (k, b[k][0], b[k][1]) for k in SMAPS_KINDS if b[k][0]]
    tf = sorted(b["text_files"].items(), key=lambda kv: -kv[1])
    return ("KiB rss/pss: " + ", ".join(parts) + "; text by file: " +
            ", ".join("%s %d" % kv for kv in tf[:6]))


def group_footprint(pids):
    """Real memory of a group of processes: the distinct physical pages
    they map (from /proc/PID/pagemap, root only), each counted once however
    many of them map it, and not shared out with processes outside the
    group as PSS does (on this shared machine other programs map libc and
    libsqlite3 too, which makes a dynamic build's PSS look smaller than it
    would be on the board).  Returns (total_kb, {file basename: kb} of the
    shared-library part), or None without pagemap access."""
    seen = {}
    for pid in pids:
        try:
            maps = open("/proc/%d/maps" % pid).read().splitlines()
            pm = open("/proc/%d/pagemap" % pid, "rb")
        except OSError:
            continue
        with pm:
            for line in maps:
                f = line.split(None, 5)
                lo, hi = (int(x, 16) for x in f[0].split("-"))
                if f[1].startswith("---"):
                    continue
                name = os.path.basename(f[5].strip()) if len(f) > 5 else ""
                try:
                    pm.seek(lo // 4096 * 8)
                    data = pm.read((hi - lo) // 4096 * 8)
                except OSError:
                    continue
                for i in range(0, len(data), 8):
                    e = int.from_bytes(data[i:i + 8], "little")
                    if e >> 63:
                        pfn = e & ((1 << 55) - 1)
                        if pfn == 0:
                            return None  # not root: PFNs hidden
                        seen[pfn] = name
    libs = {}
    for name in seen.values():
        if ".so" in name:
            libs[name] = libs.get(name, 0) + 4
    return len(seen) * 4, libs


def fmt_kb(kb):
    if kb is None:
        return "-"
    return "%.1f MiB" % (kb / 1024.0) if kb >= 10240 else "%d KiB" % kb


def ratio(a, b, higher_is_better):
    """'x.xx (loft better)' style text for a = Loft, b = the reference, or
    '-' when either is missing."""
    if a is None or b is None or a == 0 or b == 0:
        return "-"
    r = a / b
    if abs(r - 1) < 0.02:
        return "%.2fx (about equal)" % r
    better = (r > 1) if higher_is_better else (r < 1)
    return "%.2fx (%s)" % (r, "loft better" if better else "loft worse")


def table(rows, head):
    """Prints rows (lists of str) under head, columns padded."""
    rows = [head] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for n, r in enumerate(rows):
        print("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * x for x in w))
    sys.stdout.flush()


def say(*a):
    print(*a)
    sys.stdout.flush()
