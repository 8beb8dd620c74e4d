"""loft-admin's first-run wizard over HTTP and HTTPS, driven like a
browser (cookies, CSRF fields), against loftd --dev; what it stores is
checked with loftctl and sqlite3."""
import http.client
import os
import re
import socket
import sqlite3
import ssl
import time

import pytest

from loft_admin_helpers import ADMIN_PW, Browser, admin_loft, wizard_to


def db(loft):
    return sqlite3.connect(os.path.join(loft.dir, "loft.db"))


def setting(loft, key):
    with db(loft) as c:
        row = c.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("https", [False, True])
def test_wizard_password_then_domain(tmp_path, https):
    with admin_loft(tmp_path) as loft:
        loft.start()
        b = Browser(loft, https=https)
        r = b.get("/")
        assert r.status == 302 and r.getheader("Location") == "/setup"
        r = b.get("/setup")
        assert r.status == 200 and "Choose the admin password" in b.body
        anon = b.cookie
        assert "HttpOnly" in b.cookie_attrs and "SameSite=Strict" in b.cookie_attrs
        assert ("Secure" in b.cookie_attrs) == https
        # too short, then mismatched: readable messages, nothing stored
        r = b.post("/setup", {"step": "1", "password": "short", "password2": "short"})
        assert r.status == 400 and "at least 10 characters" in b.body
        r = b.post("/setup", {"step": "1", "password": "abcdefghijk", "password2": "abcdefghijz"})
        assert r.status == 400 and "differ" in b.body
        assert setting(loft, "admin.password_hash") is None
        r = b.post("/setup", {"step": "1", "password": ADMIN_PW, "password2": ADMIN_PW})
        assert r.status == 303 and r.getheader("Location") == "/setup?step=2"
        assert b.cookie != anon, "the login must issue a new session token"
        h = setting(loft, "admin.password_hash")
        assert h and h.startswith("$y$") and ADMIN_PW not in h
        b.follow()
        assert "Your mail domain" in b.body
        r = b.post("/setup", {"step": "2", "domain": "not a domain", "hostname": ""})
        assert r.status == 400 and "not a domain name" in b.body
        r = b.post("/setup", {"step": "2", "domain": "Example.ORG", "hostname": ""})
        assert r.status == 303 and r.getheader("Location") == "/setup?step=3"
        assert loft.ctl("domain", "list").stdout.split() == ["example.org"]
        assert setting(loft, "mail.domain") == "example.org"
        assert setting(loft, "mail.hostname") == "mail.example.org"
        b.follow()
        assert "Network check" in b.body and "Not checked yet" in b.body
        # the old anonymous token opens nothing
        b2 = Browser(loft, https=https)
        b2.cookie = anon
        r = b2.get("/setup?step=2")
        assert r.status == 302 and r.getheader("Location") == "/login"


def test_step1_only_once(tmp_path):
    """Once the password is set, another visitor cannot set it again."""
    with admin_loft(tmp_path) as loft:
        loft.start()
        a, b = Browser(loft), Browser(loft)
        a.get("/setup")
        b.get("/setup")
        assert a.post("/setup", {"step": "1", "password": ADMIN_PW,
                                 "password2": ADMIN_PW}).status == 303
        r = b.post("/setup", {"step": "1", "password": "evil password 1",
                              "password2": "evil password 1"})
        assert r.status == 409
        r = b.get("/setup")
        assert r.status == 302 and r.getheader("Location") == "/login"
        b.get("/login")
        r = b.post("/login", {"password": "evil password 1"})
        assert r.status == 403
        r = b.post("/login", {"password": ADMIN_PW})
        assert r.status == 303 and r.getheader("Location") == "/setup"


def test_post_without_csrf_refused(tmp_path):
    with admin_loft(tmp_path) as loft:
        loft.start()
        b = Browser(loft)
        b.get("/setup")
        fields = {"step": "1", "password": ADMIN_PW, "password2": ADMIN_PW}
        assert b.post("/setup", fields, csrf=False).status == 403
        assert b.post("/setup", fields, csrf="0" * 32).status == 403
        assert b.post("/setup", fields, csrf="").status == 403
        # no session at all (a cross-site form with no cookie)
        nob = Browser(loft)
        assert nob.post("/setup", fields, csrf="0" * 32).status == 403
        assert setting(loft, "admin.password_hash") is None
        # a logged-in admin's token is needed for every later step too
        b.get("/setup")
        b.post("/setup", fields)
        b.follow()
        assert b.post("/setup", {"step": "2", "domain": "evil.test"}, csrf=False).status == 403
        assert loft.ctl("domain", "list").stdout.split() == []
        # logout is a POST with the token as well
        assert b.post("/logout", {}, csrf=False).status == 403
        b.get("/setup?step=2")
        assert b.post("/logout", {}).status == 303
        r = b.get("/setup?step=2")
        assert r.status == 302 and r.getheader("Location") == "/login"


def test_session_fixation(tmp_path):
    """A token the client made up is never adopted; the token changes at
    login."""
    with admin_loft(tmp_path) as loft:
        loft.start()
        b = Browser(loft)
        chosen = "loft_session=" + "ab" * 32
        b.cookie = chosen
        b.get("/setup")
        assert b.cookie != chosen, "the server must replace an unknown token"
        before = b.cookie
        b.post("/setup", {"step": "1", "password": ADMIN_PW, "password2": ADMIN_PW})
        assert b.cookie not in (chosen, before)
        with db(loft) as c:
            hashes = [r[0] for r in c.execute("SELECT token_hash FROM admin_sessions")]
        token = b.cookie.split("=", 1)[1]
        assert token not in hashes, "only the token's hash is stored"


def test_wizard_refused_to_non_local(tmp_path):
    with admin_loft(tmp_path, conf={"admin.local_nets": "10.0.0.0/8"}) as loft:
        loft.start()
        b = Browser(loft)
        r = b.get("/setup")
        assert r.status == 403 and "home network" in b.body
        r = b.post("/setup", {"step": "1", "password": ADMIN_PW, "password2": ADMIN_PW},
                   csrf="0" * 32)
        assert r.status == 403
        assert setting(loft, "admin.password_hash") is None
        # the public documents are still served
        assert b.get("/static/loft.css").status == 200


def test_escaping_of_user_input(tmp_path):
    with admin_loft(tmp_path) as loft:
        loft.start()
        b = Browser(loft)
        wizard_to(b, 2)
        evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
        r = b.post("/setup", {"step": "2", "domain": evil, "hostname": evil})
        assert r.status == 400
        assert "<script>alert" not in b.body and "<img src=x" not in b.body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in b.body
        assert "&quot;&gt;" in b.body


def test_security_headers(tmp_path):
    with admin_loft(tmp_path) as loft:
        loft.start()
        b = Browser(loft)
        for path in ("/setup", "/login", "/nope", "/static/loft.css"):
            r = b.get(path)
            csp = r.getheader("Content-Security-Policy") or ""
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
            assert r.getheader("X-Frame-Options") == "DENY"
            assert r.getheader("Referrer-Policy") == "no-referrer"
            assert r.getheader("X-Content-Type-Options") == "nosniff"
        assert b.get("/nope").status == 404
        assert b.request("DELETE", "/setup").status == 405
        # no inline script or style in a page (the CSP would block them)
        b.get("/setup")
        assert "<script>" not in b.body and "style=" not in b.body


def test_admin_pages_need_login(tmp_path):
    with admin_loft(tmp_path) as loft:
        loft.start()
        b = Browser(loft)
        for path in ("/admin", "/admin/users", "/admin/queue", "/admin/backup"):
            r = b.get(path)
            assert r.status == 302 and r.getheader("Location") == "/login", path


def test_oversized_post_refused(tmp_path):
    with admin_loft(tmp_path) as loft:
        loft.start()
        b = Browser(loft)
        b.get("/setup")
        token = b.csrf()
        # a 100 MB body announced: 413 before it is sent
        s = socket.create_connection(("127.0.0.1", loft.port("http")), timeout=30)
        s.sendall(("POST /setup HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   "Content-Length: %d\r\n\r\n" % (b.cookie, 100 << 20)).encode())
        s.sendall(b"csrf=" + token.encode() + b"&step=1&password=")
        head = s.recv(4096).decode()
        assert head.startswith("HTTP/1.1 413"), head
        s.close()
        # the same without a length (chunked): refused when it passes the limit
        s = socket.create_connection(("127.0.0.1", loft.port("http")), timeout=30)
        s.sendall(("POST /setup HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n" % b.cookie).encode())
        chunk = b"a" * 8192
        got = b""
        for _ in range(64):
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        s.sendall(b"0\r\n\r\n")
        s.settimeout(30)
        try:
            got = s.recv(4096)
        except OSError:
            pass
        s.close()
        assert got.startswith(b"HTTP/1.1 413"), got[:200]
        # a chunked body far past the limit loses its connection
        s = socket.create_connection(("127.0.0.1", loft.port("http")), timeout=30)
        s.sendall(b"POST /setup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"b" * 65536
        closed = False
        try:
            for _ in range(100 << 4):  # up to 100 MB
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            closed = True
        s.close()
        assert closed, "a 100 MB chunked body must not be read to its end"
        assert setting(loft, "admin.password_hash") is None
        # and the server goes on serving
        assert Browser(loft).get("/setup").status == 200


def test_idle_clients_do_not_block(tmp_path):
    """Slowloris-ish clients (half a request line, then nothing) are
    closed after admin.timeout and never hold up other visitors."""
    with admin_loft(tmp_path, conf={"admin.timeout": "2",
                                    "admin.max_connections_per_ip": "40"}) as loft:
        loft.start()
        idle = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", loft.port("http")), timeout=60)
            s.sendall(b"GET /setup HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            idle.append(s)
        b = Browser(loft)
        assert b.get("/setup").status == 200
        for s in idle:
            # closed by the server: recv returns b"" (or an error), never hangs
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            assert b"200 OK" not in data
            s.close()
        assert b.get("/static/loft.css").status == 200


def test_login_throttled(tmp_path):
    with admin_loft(tmp_path, conf={"admin.auth_free_failures": "1",
                                    "admin.auth_max_failures": "3",
                                    "admin.auth_max_delay_ms": "200"}) as loft:
        loft.start()
        b = Browser(loft)
        wizard_to(b, 2)
        b.post("/logout", {})
        b.get("/login")
        codes = []
        for i in range(5):
            codes.append(b.post("/login", {"password": "wrong password %d" % i}).status)
            b.get("/login")
        assert codes[:3] == [403, 403, 403], codes
        assert 429 in codes[3:], codes
        # even the right password is refused while throttled
        r = b.post("/login", {"password": ADMIN_PW})
        assert r.status == 429
        assert "admin-login-failed" in loft.log()


POST_PATHS = ["/setup", "/login", "/logout", "/admin/users", "/admin/aliases",
              "/admin/domains", "/admin/queue", "/admin/route", "/admin/password",
              "/admin/restore", "/admin/certificate"]


def test_every_post_needs_the_token(tmp_path):
    """Every form target refuses a POST without the session's CSRF token
    (logged in, so the token is the only thing missing), and changes
    nothing."""
    with admin_loft(tmp_path) as loft:
        loft.start()
        b = Browser(loft)
        wizard_to(b, 9, user=("alice", "alice-secret-1"))
        before = sqlite3.connect(os.path.join(loft.dir, "loft.db")).execute(
            "SELECT key, value FROM settings WHERE key NOT LIKE 'admin.%'").fetchall()
        fields = {"action": "add", "step": "2", "domain": "evil.test", "local": "evil",
                  "password": "evil-password-1", "password2": "evil-password-1",
                  "current": ADMIN_PW, "source": "x@example.org", "target": "y@evil.test",
                  "mode": "direct", "id": "1"}
        for path in POST_PATHS:
            for token in (False, "0" * 32):
                r = b.post(path, fields, csrf=token)
                assert r.status == 403, (path, token, r.status)
        after = sqlite3.connect(os.path.join(loft.dir, "loft.db")).execute(
            "SELECT key, value FROM settings WHERE key NOT LIKE 'admin.%'").fetchall()
        assert before == after
        assert loft.ctl("user", "list").stdout.split() == ["alice@example.org"]
        assert loft.ctl("domain", "list").stdout.split() == ["example.org"]
        # still logged in: the refusals were only refusals
        assert b.get("/admin").status == 200
