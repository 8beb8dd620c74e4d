"""loft-admin: RSS idle and while a browser loads the dashboard, and the
time to render the dashboard and the queue page with 10,000 messages and
1,000 queue entries in the store.

The rows are written straight into loft.db before loftd starts (a bench
fixture, not a path the daemons take): messages of 2 KiB, queue rows
deferred with an error text, and 14 days of finished rows for the chart.
"""
import os
import sqlite3
import statistics
import sys
import tempfile
import time

from benchlib import build_dir, loft_missing, proc_status_kb, reset_peak

BUILD = build_dir(sys.argv)
from loftenv import Loft  # noqa: E402
from loft_admin_helpers import Browser, wizard_to  # noqa: E402

MESSAGES = 10000
QUEUE = 1000


def fill(dbpath):
    now = int(time.time())
    raw = b"From: a@example.org\r\nSubject: bench\r\n\r\n" + b"x" * 2000
    with sqlite3.connect(dbpath) as c:
        c.executemany(
            "INSERT INTO messages(size, internaldate, header_size, lines, mime_flags,"
            " envelope, bodystructure, body, sections, raw) VALUES(?, ?, 40, 3, 0, '', '', '',"
            " x'', ?)", ((len(raw), now, raw) for _ in range(MESSAGES)))
        c.executemany(
            "INSERT INTO queue(message_id, mail_from, rcpt, created, next_attempt, attempts,"
            " status, last_error) VALUES(NULL, 'a@example.org', ?, ?, ?, 3, 'deferred',"
            " '451 4.7.1 greylisted, try again later')",
            (("r%d@remote.example" % i, now, now + 600) for i in range(QUEUE)))
        c.executemany(
            "INSERT INTO queue(message_id, mail_from, rcpt, created, next_attempt, attempts,"
            " status, last_error, finished) VALUES(NULL, 'a@example.org', 'x@remote.example',"
            " ?, ?, 1, ?, '', ?)",
            ((now - d * 86400, now, "done" if d % 5 else "bounced", now - d * 86400)
             for d in range(14) for _ in range(20)))


def timed_gets(b, path, n):
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = b.get(path)
        t.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, (path, r.status)
    t.sort()
    return statistics.median(t), t[int(len(t) * 0.95) - 1], len(b.body)


def chromium_loads(port, cookie, n):
    """Loads the dashboard n times in headless Chromium; returns the count
    loaded, or a reason it could not run."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return "python3-selenium not installed"
    if not os.path.exists("/usr/bin/chromium"):
        return "chromium not installed"
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        base = "http://127.0.0.1:%d" % port
        d.get(base + "/static/loft.css")
        name, value = cookie.split("=", 1)
        d.add_cookie({"name": name, "value": value, "path": "/"})
        for _ in range(n):
            d.get(base + "/admin")
            assert "Dashboard" in d.page_source
        return n
    finally:
        d.quit()


def main():
    why = loft_missing(BUILD, "admin")
    if why:
        print("loft-admin: %s, no figures" % why)
        return
    with tempfile.TemporaryDirectory() as td:
        os.chmod(td, 0o755)
        loft = Loft(td, enable=["admin"], conf={"admin.require_https": "no"})
        fill(os.path.join(loft.dir, "loft.db"))
        loft.start()
        b = Browser(loft)
        wizard_to(b, 9, user=None)
        pid = loft.children()["loft-admin"]
        time.sleep(1)
        print("messages in store: %d, queue entries waiting: %d" % (MESSAGES, QUEUE))
        print("loft-admin RSS idle: %d KiB" % proc_status_kb(pid, "VmRSS"))
        med, p95, size = timed_gets(b, "/admin", 50)
        print("dashboard render (GET /admin, 50 requests): median %.1f ms, p95 %.1f ms,"
              " %d bytes" % (med, p95, size))
        med, p95, size = timed_gets(b, "/admin/queue", 20)
        print("queue page (500 of 1000 rows shown, 20 requests): median %.1f ms, p95 %.1f ms,"
              " %d bytes" % (med, p95, size))
        med, p95, size = timed_gets(b, "/mail/config-v1.1.xml", 50)
        print("autoconfig document (50 requests): median %.1f ms" % med)
        reset_peak(pid)
        got = chromium_loads(loft.port("http"), b.cookie, 10)
        if isinstance(got, int):
            print("loft-admin peak RSS while Chromium loaded the dashboard %d times: %d KiB"
                  % (got, proc_status_kb(pid, "VmHWM")))
        else:
            print("loft-admin RSS under a browser: not measured (%s)" % got)
        print("loft-admin RSS after: %d KiB" % proc_status_kb(pid, "VmRSS"))
        loft.stop()


if __name__ == "__main__":
    main()
