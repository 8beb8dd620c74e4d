"""loft-admin keeps answering while slow work runs (issue 12): the admin
password check (a yescrypt child process) runs on a thread of its own
(admin/work.c) with the login request suspended.  The test holds that
child stopped (SIGSTOP) -- so the check cannot finish, however fast or
slow the machine is -- and asks other pages meanwhile: they are answered.
With the check on the event loop they would wait for the child.  Then the
child goes on (SIGCONT) and the login completes; the backup download,
also on a thread, still gives a sound database."""
import ctypes
import os
import signal
import sqlite3
import threading
import time

import pytest

from loft_admin_helpers import ADMIN_PW, Browser, admin_loft, wizard_to


def yescrypt(pw, cost):
    """A yescrypt hash of pw at cost (libxcrypt's count; 5 is its default)
    made by the system's libcrypt, so the check's child lives longer."""
    lc = ctypes.CDLL("libcrypt.so.1")
    lc.crypt_gensalt.restype = ctypes.c_char_p
    lc.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lc.crypt.restype = ctypes.c_char_p
    lc.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    setting = lc.crypt_gensalt(b"$y$", cost, None, 0)
    return lc.crypt(pw.encode(), setting).decode()


def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(p))
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    loft = admin_loft(tmp_path_factory.mktemp("admin-async"))
    loft.start()
    b = Browser(loft)
    wizard_to(b, 9)
    with sqlite3.connect(os.path.join(loft.dir, "loft.db")) as c:
        c.execute("UPDATE settings SET value = ? WHERE key = 'admin.password_hash'",
                  (yescrypt(ADMIN_PW, 7),))
    yield loft, b
    loft.stop()


def test_pages_answered_while_login_check_runs(env):
    loft, b = env
    admin_pid = loft.children()["loft-admin"]
    for attempt in range(20):
        login = Browser(loft)
        assert login.get("/login").status == 200
        result = {}

        def post():
            result["r"] = login.post("/login", {"password": ADMIN_PW})
        t = threading.Thread(target=post)
        t.start()
        # catch the check's child process and hold it
        held = None
        while t.is_alive() and held is None:
            for kid in children_of(admin_pid):
                try:
                    os.kill(kid, signal.SIGSTOP)
                    held = kid
                except ProcessLookupError:
                    pass
            time.sleep(0.001)
        if held is None:
            t.join()
            continue  # the check ended before we saw its child: again
        try:
            # the check is stopped: other requests are still answered
            other = Browser(loft)
            assert other.get("/login").status == 200
            assert b.get("/admin").status == 200 and "Dashboard" in b.body
            assert b.get("/admin/users").status == 200
            assert t.is_alive() and "r" not in result, "the login answered without its check"
        finally:
            os.kill(held, signal.SIGCONT)
        t.join(60)
        assert not t.is_alive()
        r = result["r"]
        assert r.status == 303 and r.getheader("Location") in ("/admin", "/setup"), r.status
        assert login.get("/admin").status == 200
        break
    else:
        pytest.fail("never saw the password check's child process in 20 logins")
    # a wrong password is still refused through the thread
    bad = Browser(loft)
    bad.get("/login")
    r = bad.post("/login", {"password": "not the password"})
    assert r.status == 403 and "Wrong password" in bad.body


def test_backup_on_thread(env):
    loft, b = env
    r = b.get("/admin/backup")
    assert r.status == 200
    c = b.conn()
    c.request("GET", "/admin/backup", headers={"Cookie": b.cookie})
    resp = c.getresponse()
    data = resp.read()
    c.close()
    assert resp.status == 200 and data.startswith(b"SQLite format 3\x00")
    path = os.path.join(loft.dir, "..", "backup-async.db")
    with open(path, "wb") as f:
        f.write(data)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM settings WHERE key = 'admin.password_hash'"
                          ).fetchone()[0] == 1
    assert not [f for f in os.listdir(loft.dir) if f.startswith("backup-download")]
