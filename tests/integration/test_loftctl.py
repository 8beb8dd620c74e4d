"""loftctl administers a data directory: domains, users (password from
stdin only), aliases, status, events, backup while running, restore."""
import os
import sqlite3
import subprocess
import threading

from loftenv import Loft, binary


def test_domains_users_aliases(tmp_path):
    loft = Loft(tmp_path)
    loft.add_domain("example.org")
    loft.add_domain("Example.NET")
    assert loft.ctl("domain", "list").stdout.split() == ["example.net", "example.org"]
    p = loft.ctl("domain", "add", "example.org", check=False)
    assert p.returncode == 1 and "already exists" in p.stderr

    loft.add_user("Alice@Example.org", "correct horse")
    loft.add_user("bob@example.org", "battery staple")
    assert loft.ctl("user", "list").stdout.split() == ["alice@example.org", "bob@example.org"]
    p = loft.ctl("user", "add", "carol@nowhere.test", input="pw\n", check=False)
    assert p.returncode == 1 and "not found" in p.stderr
    p = loft.ctl("user", "add", "dave@example.org", input="", check=False)
    assert p.returncode == 1, "an empty password must be refused"
    # the password is never taken from the command line
    p = loft.ctl("user", "add", "eve@example.org", "secret", check=False)
    assert p.returncode == 2 and "usage" in p.stderr

    loft.ctl("alias", "add", "info@example.org", "alice@example.org")
    loft.ctl("alias", "add", "info@example.org", "friend@remote.test")
    loft.ctl("alias", "add", "@example.org", "bob@example.org")
    out = loft.ctl("alias", "list").stdout
    assert "@example.org -> bob@example.org" in out
    assert "info@example.org -> alice@example.org" in out
    assert "info@example.org -> friend@remote.test" in out
    p = loft.ctl("alias", "add", "x@elsewhere.test", "alice@example.org", check=False)
    assert p.returncode == 1
    loft.ctl("alias", "del", "info@example.org", "friend@remote.test")
    assert "friend@remote.test" not in loft.ctl("alias", "list").stdout
    loft.ctl("alias", "del", "info@example.org")
    assert "info@" not in loft.ctl("alias", "list").stdout

    loft.ctl("user", "passwd", "alice@example.org", input="new password\n")
    loft.ctl("user", "del", "bob@example.org")
    assert loft.ctl("user", "list").stdout.split() == ["alice@example.org"]
    p = loft.ctl("user", "del", "bob@example.org", check=False)
    assert p.returncode == 1 and "not found" in p.stderr
    # a domain with users cannot go
    assert loft.ctl("domain", "del", "example.org", check=False).returncode == 1
    loft.ctl("domain", "del", "example.net")
    assert loft.ctl("domain", "list").stdout.split() == ["example.org"]


def test_password_never_stored_in_clear(tmp_path):
    loft = Loft(tmp_path)
    loft.add_domain("example.org")
    loft.add_user("alice@example.org", "TopSecretPassw0rd")
    with open(os.path.join(loft.dir, "loft.db"), "rb") as f:
        assert b"TopSecretPassw0rd" not in f.read()
    for name in os.listdir(loft.dir):
        if name.startswith("loft.db-"):
            with open(os.path.join(loft.dir, name), "rb") as f:
                assert b"TopSecretPassw0rd" not in f.read()


def test_status_without_loftd(tmp_path):
    loft = Loft(tmp_path)
    out = loft.ctl("status").stdout
    assert "PROCESS" in out and "loftd is not running" in out


def test_unknown_command_and_missing_datadir(tmp_path):
    p = subprocess.run([binary("loftctl"), "-d", str(tmp_path / "none"), "domain", "list"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "init" in p.stderr
    p = subprocess.run([binary("loftctl"), "frobnicate"], capture_output=True, text=True)
    assert p.returncode == 2


def test_backup_while_writing_and_restore(tmp_path):
    loft = Loft(tmp_path)
    loft.add_domain("example.org")
    loft.add_user("alice@example.org", "pw")
    stop = threading.Event()
    added = []

    def writer():
        i = 0
        while not stop.is_set() and i < 200:
            loft.ctl("alias", "add", "a%d@example.org" % i, "alice@example.org")
            added.append(i)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    backups = []
    try:
        for n in range(5):
            dest = str(tmp_path / ("backup%d.db" % n))
            loft.ctl("backup", dest)
            backups.append(dest)
    finally:
        stop.set()
        t.join()
    for b in backups:
        db = sqlite3.connect(b)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
    # a backup refuses to overwrite
    assert loft.ctl("backup", backups[0], check=False).returncode == 1

    final = str(tmp_path / "final.db")
    loft.ctl("backup", final)
    loft.ctl("user", "del", "alice@example.org")
    loft.ctl("domain", "del", "example.org")
    assert loft.ctl("domain", "list").stdout.strip() == ""
    loft.ctl("restore", final)
    assert loft.ctl("domain", "list").stdout.split() == ["example.org"]
    assert loft.ctl("user", "list").stdout.split() == ["alice@example.org"]
    assert len(loft.ctl("alias", "list").stdout.splitlines()) == len(added)

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    p = loft.ctl("restore", str(junk), check=False)
    assert p.returncode == 1
    assert loft.ctl("user", "list").stdout.split() == ["alice@example.org"]
