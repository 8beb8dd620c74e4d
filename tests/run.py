#!/usr/bin/python3
"""Runs every Loft test for one or more build directories and prints one
closing line "N passed, N failed".

Unit tests are the C programs in BUILD/tests/ (TAP output); integration
tests are pytest files in tests/integration/, which find the binaries
through the LOFT_BUILD environment variable.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_unit(build, only):
    passed = failed = 0
    tdir = os.path.join(TOP, build, "tests")
    if not os.path.isdir(tdir):
        return 0, 0
    for name in sorted(os.listdir(tdir)):
        path = os.path.join(tdir, name)
        if not (name.startswith("test_") and os.access(path, os.X_OK)):
            continue
        if only and not any(o in name for o in only):
            continue
        t0 = time.time()
        env = dict(os.environ, LOFT_BUILD=os.path.join(TOP, build))
        try:
            p = subprocess.run([path], cwd=TOP, env=env, capture_output=True,
                               text=True, errors="replace", timeout=900)
            out, rc = p.stdout + p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode(errors="replace"), -999
        ok = sum(1 for l in out.splitlines() if l.startswith("ok "))
        bad = [l for l in out.splitlines() if l.startswith("not ok ")]
        planned = any(l.startswith("1..") for l in out.splitlines())
        if rc != 0 and not bad:
            bad = ["not ok - %s exited with status %d%s" % (
                name, rc, "" if planned else " before its plan")]
        passed += ok
        failed += len(bad)
        status = "ok" if not bad else "FAILED"
        print("[%s] unit %-28s %4d ok %3d failed  %.1fs  %s" % (
            build, name, ok, len(bad), time.time() - t0, status), flush=True)
        if bad:
            tail = out.splitlines()[-60:]
            print("\n".join("    " + l for l in tail), flush=True)
    return passed, failed


def run_integration(build, only):
    idir = os.path.join(TOP, "tests", "integration")
    if not any(f.startswith("test_") and f.endswith(".py") for f in os.listdir(idir)):
        return 0, 0
    with tempfile.TemporaryDirectory() as td:
        xml = os.path.join(td, "junit.xml")
        env = dict(os.environ, LOFT_BUILD=os.path.join(TOP, build),
                   PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
               "--junitxml", xml, idir]
        if only:
            cmd += ["-k", " or ".join(only)]
        print("[%s] integration: %s" % (build, " ".join(cmd[2:])), flush=True)
        p = subprocess.run(cmd, cwd=TOP, env=env)
        if not os.path.exists(xml):
            return 0, 1
        root = ET.parse(xml).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        total = sum(int(s.get("tests", 0)) for s in suites)
        bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
        skipped = sum(int(s.get("skipped", 0)) for s in suites)
        if p.returncode not in (0, 1, 5) and bad == 0:
            bad = 1
        # A skip hides a test that did not run: it counts as a failure
        # unless its reason says the machine itself cannot run it
        # ("machine: ..."), e.g. a privilege test when not root.
        for case in root.iter("testcase"):
            sk = case.find("skipped")
            if sk is None:
                continue
            reason = sk.get("message", "")
            # pytest's junit message for pytest.skip() starts with the location
            if reason.startswith("machine:") or "machine: " in reason.split("\n")[0][:400]:
                print("[%s] skipped %s.%s: %s" % (build, case.get("classname"),
                                                  case.get("name"), reason), flush=True)
                continue
            print("[%s] FAILED (skipped without a machine reason) %s.%s: %s" % (
                build, case.get("classname"), case.get("name"), reason), flush=True)
            bad += 1
            skipped -= 1
        return total - bad - skipped, bad


def run_fuzz(fdir, seconds, only):
    """Runs each libFuzzer target in fdir/fuzz/ for a few seconds on its
    seed corpus (tests/fuzz/corpus/NAME, where every crash ever found is
    kept, so each is replayed first).  A crash, a leak, undefined behaviour
    or a timeout fails the target."""
    passed = failed = 0
    bdir = os.path.join(TOP, fdir, "fuzz")
    names = sorted(n for n in os.listdir(bdir) if n.startswith("fuzz_")) \
        if os.path.isdir(bdir) else []
    if not names:
        print("[%s] fuzz: no targets built" % fdir, flush=True)
        return 0, 1
    for name in names:
        if only and not any(o in name for o in only):
            continue
        seeds = os.path.join(TOP, "tests", "fuzz", "corpus", name)
        with tempfile.TemporaryDirectory(prefix="loft-fuzz-") as work:
            cmd = [os.path.join(bdir, name), "-max_total_time=%d" % seconds,
                   "-max_len=65536", "-rss_limit_mb=1024", "-timeout=10",
                   "-artifact_prefix=%s/" % work, work]
            if os.path.isdir(seeds):
                cmd.append(seeds)
            t0 = time.time()
            try:
                p = subprocess.run(cmd, cwd=TOP, capture_output=True, text=True,
                                   errors="replace", timeout=seconds + 120)
                out, rc = p.stdout + p.stderr, p.returncode
            except subprocess.TimeoutExpired as e:
                out, rc = (e.stderr or b"").decode(errors="replace"), -999
            runs = [l for l in out.splitlines() if l.startswith("Done ")]
            ok = rc == 0 and runs
            print("[%s] fuzz %-28s %s  %.1fs  %s" % (
                fdir, name, runs[-1] if runs else "", time.time() - t0,
                "ok" if ok else "FAILED"), flush=True)
            if ok:
                passed += 1
            else:
                failed += 1
                print("\n".join("    " + l for l in out.splitlines()[-60:]), flush=True)
    return passed, failed


def sanitizer_env(build, logdir):
    """Sanitizer reports of every process (daemons included) go to files in
    logdir, so a daemon that trips ASan/UBSan fails the run even when
    loftd restarted it and the client never noticed."""
    return {
        "ASAN_OPTIONS": "log_path=%s/asan:detect_leaks=1:abort_on_error=0" % logdir,
        "UBSAN_OPTIONS": "log_path=%s/ubsan:print_stacktrace=1:halt_on_error=1" % logdir,
    }


def sanitizer_reports(logdir):
    bad = 0
    for name in sorted(os.listdir(logdir)):
        path = os.path.join(logdir, name)
        with open(path, errors="replace") as f:
            text = f.read()
        if not text.strip():
            continue
        bad += 1
        print("SANITIZER REPORT %s:\n%s" % (name, "\n".join(
            "    " + l for l in text.splitlines()[:80])), flush=True)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", required=True)
    ap.add_argument("--unit-only", action="store_true")
    ap.add_argument("--fuzz", metavar="BUILD", help="also run the libFuzzer targets built there")
    ap.add_argument("--fuzz-seconds", type=int, default=3)
    ap.add_argument("only", nargs="*", help="run only tests whose name holds one of these")
    a = ap.parse_args()
    passed = failed = 0
    t0 = time.time()
    for b in a.build:
        with tempfile.TemporaryDirectory(prefix="loft-san-") as logdir:
            # as root the daemons run as the loft user and write here too
            os.chmod(logdir, 0o1777)
            saved = dict(os.environ)
            os.environ.update(sanitizer_env(b, logdir))
            try:
                p, f = run_unit(b, a.only)
                passed, failed = passed + p, failed + f
                if not a.unit_only:
                    p, f = run_integration(b, a.only)
                    passed, failed = passed + p, failed + f
            finally:
                os.environ.clear()
                os.environ.update(saved)
            reports = sanitizer_reports(logdir)
            if reports:
                print("[%s] %d sanitizer report(s)" % (b, reports), flush=True)
            failed += reports
    if a.fuzz:
        p, f = run_fuzz(a.fuzz, a.fuzz_seconds, a.only)
        passed, failed = passed + p, failed + f
    print("total time %.0fs" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
