"""The static multi-call build (make static, build-static/): one executable
`loft`, every program in the Makefile's PROGS a symlink to it, the role
chosen by argv[0] or the first argument.  Runs against LOFT_BUILD when that
is a static build, else against build-static/ (made here if missing).

The rest of the integration suite runs on the static build too:
`tests/run.py --build build-static test_smtpd_clients ...` (make test does
a subset)."""
import os
import smtplib
import subprocess
import imaplib

import pytest

import loftenv

TOP = loftenv.TOP


def static_dir():
    if os.path.exists(os.path.join(loftenv.BUILD, "loft")):
        return loftenv.BUILD
    d = os.path.join(TOP, "build-static")
    if not os.path.exists(os.path.join(d, "loft")):
        subprocess.run(["nice", "-n", "10", "make", "-s", "-j2", "static"], cwd=TOP, check=True,
                       stdout=subprocess.DEVNULL)
    return d


@pytest.fixture(scope="module")
def sdir(request):
    d = static_dir()
    old = loftenv.BUILD
    loftenv.BUILD = d  # loftenv.binary() reads it at each call
    yield d
    loftenv.BUILD = old


def progs(target="progs"):
    """PROGS (or, with "static-progs", those in the multi-call program)."""
    out = subprocess.run(["make", "-s", "--no-print-directory", target], cwd=TOP,
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def run(sdir, argv0, *args, **kw):
    exe = os.path.join(sdir, "loft")
    return subprocess.run([argv0] + list(args), executable=exe, capture_output=True, text=True,
                          timeout=60, **kw)


def test_static_and_one_file(sdir):
    loft = os.path.join(sdir, "loft")
    ph = subprocess.run(["readelf", "-lW", loft], capture_output=True, text=True,
                        check=True).stdout
    dyn = subprocess.run(["readelf", "-dW", loft], capture_output=True, text=True,
                         check=True).stdout
    assert "Requesting program interpreter" not in ph, ph
    assert "(NEEDED)" not in dyn, dyn
    # static glibc's NSS would dlopen modules at run time: no user or
    # group lookup through it may be linked in (lib/core/proc.c reads
    # /etc/passwd itself)
    syms = subprocess.run(["nm", loft], capture_output=True, text=True, check=True).stdout
    linked = {l.split()[-1] for l in syms.splitlines()}
    assert not linked & {"getpwnam", "getpwnam_r", "getpwuid", "getgrnam", "initgroups"}
    names = progs("static-progs")
    assert {"loftd", "loftctl", "loft-smtpd", "loft-imapd"} <= set(names)
    listed = subprocess.run([loft, "--list"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert listed == names  # the role table is STATIC_PROGS, generated
    for p in names:
        path = os.path.join(sdir, p)
        assert os.path.islink(path) and os.readlink(path) == "loft", p
    # a program that said name_STATIC := no is a program of its own beside it
    for p in set(progs()) - set(names):
        path = os.path.join(sdir, p)
        assert os.path.isfile(path) and not os.path.islink(path) and os.access(path, os.X_OK), p


def test_dispatch(sdir):
    loft = os.path.join(sdir, "loft")
    p = subprocess.run([loft], capture_output=True, text=True)
    assert p.returncode == 64 and "usage: loft ROLE" in p.stderr
    p = subprocess.run([loft, "no-such-role"], capture_output=True, text=True)
    assert p.returncode == 64 and "no role named no-such-role" in p.stderr
    # argv[0] chooses, with or without a directory in front
    a = run(sdir, "loftctl", "--help")
    b = run(sdir, "/some/where/loftctl", "--help")
    c = subprocess.run([loft, "loftctl", "--help"], capture_output=True, text=True)
    assert a.returncode == b.returncode == c.returncode
    assert a.stdout + a.stderr == b.stdout + b.stderr == c.stdout + c.stderr
    assert "loftctl" in a.stdout + a.stderr
    # a name that is no role, then the first argument
    d = run(sdir, "something-else", "loftctl", "--help")
    assert d.stdout + d.stderr == a.stdout + a.stderr


def test_loftctl_through_symlink_and_argument(sdir, tmp_path):
    data = str(tmp_path / "data")
    link = os.path.join(sdir, "loftctl")
    loft = os.path.join(sdir, "loft")
    subprocess.run([link, "-d", data, "init"], check=True, capture_output=True)
    subprocess.run([link, "-d", data, "domain", "add", "example.org"], check=True,
                   capture_output=True)
    out = subprocess.run([loft, "loftctl", "-d", data, "domain", "list"], check=True,
                         capture_output=True, text=True).stdout
    assert out.split() == ["example.org"]


def test_every_daemon_role_runs(sdir, tmp_path):
    """loftd (the symlink) starts every daemon that is built, those in the
    multi-call program from the same file; each says ready and is named
    for its role; mail goes in by SMTP and out by IMAP."""
    enable = [d for d in loftenv.DAEMONS if os.path.exists(os.path.join(sdir, "loft-" + d))]
    assert {"smtpd", "imapd", "queue", "netwatch"} <= set(enable), enable
    loft = loftenv.Loft(tmp_path, enable=enable, conf={"smtpd.greeting_delay_ms": "0"})
    loft.add_domain("example.org")
    loft.add_user("a@example.org", "secret-a")
    loft.start()  # waits for every enabled daemon's "ready"
    try:
        kids = loft.children()
        assert {"loft-" + d for d in enable} <= set(kids), kids
        real = os.path.realpath(os.path.join(sdir, "loft"))
        multi = set(progs("static-progs"))
        for name, pid in list(kids.items()) + [("loftd", loft.proc.pid)]:
            exe = os.path.realpath("/proc/%d/exe" % pid)
            assert (exe == real) == (name in multi), (name, exe)
        with open("/proc/%d/comm" % loft.proc.pid) as f:
            assert f.read().strip() == "loftd"
        with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=15) as s:
            s.sendmail("x@remote.example", ["a@example.org"],
                       b"Subject: static\r\n\r\none program\r\n")
        m = imaplib.IMAP4("127.0.0.1", loft.port("imap"), timeout=15)
        try:
            m.starttls(ssl_context=__import__("loft_smtp_helpers").tls_ctx())
            m.login("a@example.org", "secret-a")
            typ, data = m.select("INBOX")
            assert typ == "OK" and int(data[0]) == 1
            typ, data = m.fetch("1", "(BODY[TEXT])")
            assert b"one program" in data[0][1]
            m.logout()
        except Exception:
            m.shutdown()
            raise
    finally:
        loft.stop()
    log = loft.log()
    assert "event=child-died" not in log, log[-3000:]


def text_rss_kb(pid, exe):
    """KiB of pid's executable mappings of exe that are present (Rss)."""
    kb, cur = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                cur = len(head) >= 6 and "x" in head[1] and os.path.realpath(head[5]) == exe
            elif cur and line.startswith("Rss:"):
                kb += int(head[1])
    return kb


def kernel_at_least(major, minor):
    rel = os.uname().release.split("-")[0].split(".")
    return (int(rel[0]), int(rel[1])) >= (major, minor)


def test_exact_faults(sdir, tmp_path, monkeypatch):
    """Every role maps only the code pages it touches (board/multicall.c,
    issue 14): without fault-around the same idle daemons map far less of
    the one shared file.  LOFT_FAULT_AROUND=1 keeps the kernel's default,
    which is the comparison."""
    if not kernel_at_least(6, 7):
        pytest.skip("machine: kernel %s has no UFFD_FEATURE_WP_ASYNC (6.7)" % os.uname().release)
    real = os.path.realpath(os.path.join(sdir, "loft"))
    enable = ["smtpd", "imapd"]
    got = {}
    for mode in ("exact", "around"):
        if mode == "around":
            monkeypatch.setenv("LOFT_FAULT_AROUND", "1")
        (tmp_path / mode).mkdir()
        loft = loftenv.Loft(tmp_path / mode, enable=enable, conf={"smtpd.greeting_delay_ms": "0"})
        loft.add_domain("example.org")
        loft.add_user("a@example.org", "secret-a")
        loft.start()
        try:
            with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=15) as s:
                s.sendmail("x@remote.example", ["a@example.org"], b"Subject: t\r\n\r\nbody\r\n")
            pids = dict(loft.children(), loftd=loft.proc.pid)
            got[mode] = {n: text_rss_kb(p, real) for n, p in pids.items()}
        finally:
            loft.stop()
        assert "event=child-died" not in loft.log()
    # each daemon dropped its start-up pages at "ready" (lib/core/pages.h)
    # and maps what it ran since; with fault-around the 64 KiB around
    # each of those pages as well: the role's code is kept together by
    # STATIC_ORDER, so the difference is its edges and holes
    names = ("loftd", "loft-smtpd", "loft-imapd")
    for name in names:
        assert 0 < got["exact"][name] < got["around"][name], (name, got)
    assert sum(got["exact"][n] for n in names) < 0.75 * sum(got["around"][n] for n in names), got
