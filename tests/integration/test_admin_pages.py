"""loft-admin after set-up: the admin pages (users, aliases, domains,
queue, route, system), backup and restore, HTTPS redirect, and the phone
set-up documents, checked against their formats and used by a client
that logs in over IMAP and SMTP with what it found."""
import base64
import email
import subprocess
import imaplib
import os
import plistlib
import re
import smtplib
import socket
import sqlite3
import ssl
import time
import xml.etree.ElementTree as ET

import pytest

from loft_admin_helpers import ADMIN_PW, Browser, admin_loft, wizard_to
from loftenv import free_port

ALICE = ("alice", "alice-secret-1")


def db(loft):
    return sqlite3.connect(os.path.join(loft.dir, "loft.db"))


def settings(loft):
    with db(loft) as c:
        return dict(c.execute("SELECT key, value FROM settings"))


def tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    loft = admin_loft(tmp_path_factory.mktemp("admin-pages"), enable=("admin", "smtpd", "imapd"),
                      conf={"smtpd.greeting_delay_ms": "0"})
    loft.start()
    b = Browser(loft)
    wizard_to(b, 9, user=ALICE)
    yield loft, b
    loft.stop()


def test_setup_done_opens_admin(env):
    loft, b = env
    assert settings(loft)["setup.done"] == "1"
    r = b.get("/")
    assert r.status == 302 and r.getheader("Location") == "/admin"
    r = b.get("/setup")
    assert r.status == 302 and r.getheader("Location") == "/admin"
    r = b.get("/admin")
    assert r.status == 200 and "Dashboard" in b.body
    assert re.search(r'id="st-users"><b>1</b>', b.body), b.body
    assert "<svg" in b.body and 'id="chart"' in b.body
    assert "set-up complete" in b.body  # the event log
    assert re.search(r"<td>loft-admin</td><td>running</td>", b.body), "process status"
    # every admin page renders for the logged-in admin
    for path in ("/admin/users", "/admin/aliases", "/admin/domains", "/admin/queue",
                 "/admin/route", "/admin/dns", "/admin/log", "/admin/system"):
        assert b.get(path).status == 200, path
        assert "Log out" in b.body
        # the CSP allows no inline style or script: none is used
        assert 'style="' not in b.body and "<script>" not in b.body, path


def test_users_crud_and_mail_flow(env):
    loft, b = env
    b.get("/admin/users")
    r = b.post("/admin/users", {"action": "add", "local": "bob", "domain": "example.org",
                                "password": "short"})
    assert r.status == 400 and "at least 8" in b.body
    assert "bob@example.org" not in loft.ctl("user", "list").stdout
    r = b.post("/admin/users", {"action": "add", "local": "bob", "domain": "example.org",
                                "password": "bob-secret-1"})
    assert r.status == 303 and r.getheader("Location") == "/admin/users?m=user-added"
    b.follow()
    assert "Mailbox added." in b.body and "bob@example.org" in b.body
    r = b.post("/admin/users", {"action": "add", "local": "bob", "domain": "example.org",
                                "password": "bob-secret-1"})
    assert r.status == 409
    # mail to the new mailbox over SMTP, read back over IMAP
    with smtplib.SMTP_SSL("127.0.0.1", loft.port("submissions"), context=tls(), timeout=30) as s:
        s.login("alice@example.org", ALICE[1])
        s.sendmail("alice@example.org", ["bob@example.org"],
                   b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: via admin\r\n\r\nhi\r\n")
    with imaplib.IMAP4_SSL("127.0.0.1", loft.port("imaps"), ssl_context=tls()) as m:
        m.login("bob@example.org", "bob-secret-1")
        m.select("INBOX")
        for _ in range(100):
            typ, data = m.search(None, "SUBJECT", '"via admin"')
            if data[0]:
                break
            time.sleep(0.1)
            m.noop()
        assert data[0], "the message must arrive"
    b.get("/admin/users")
    assert re.search(r'bob@example.org</a></td><td>1 messages</td><td class="size">'
                     r'\d+(\.\d)? (B|KB) <span class="mut">\(no limit\)</span></td>', b.body), \
        b.body[-2000:]
    # reset the password: the old one stops working
    b.get("/admin/user?address=bob@example.org")
    assert 'id="qr"' in b.body and "Reset the password" in b.body
    r = b.post("/admin/users", {"action": "passwd", "address": "bob@example.org",
                                "password": "bob-secret-2"})
    assert r.status == 303
    with imaplib.IMAP4_SSL("127.0.0.1", loft.port("imaps"), ssl_context=tls()) as m:
        with pytest.raises(imaplib.IMAP4.error):
            m.login("bob@example.org", "bob-secret-1")
    with imaplib.IMAP4_SSL("127.0.0.1", loft.port("imaps"), ssl_context=tls()) as m:
        m.login("bob@example.org", "bob-secret-2")
    b.get("/admin/user?address=bob@example.org")
    r = b.post("/admin/users", {"action": "del", "address": "bob@example.org"})
    assert r.status == 303
    assert "bob@example.org" not in loft.ctl("user", "list").stdout
    assert b.get("/admin/user?address=bob@example.org").status == 404


def test_aliases_and_domains(env):
    loft, b = env
    b.get("/admin/aliases")
    r = b.post("/admin/aliases", {"action": "add", "source": "info@example.org",
                                  "target": "alice@example.org"})
    assert r.status == 303
    b.get("/admin/aliases")
    r = b.post("/admin/aliases", {"action": "add", "source": "@example.org",
                                  "target": "alice@example.org"})
    assert r.status == 303
    r = b.post("/admin/aliases", {"action": "add", "source": "x@elsewhere.test",
                                  "target": "alice@example.org"}, csrf=b.csrf())
    assert r.status == 400 and "one of your domains" in b.body
    out = loft.ctl("alias", "list").stdout
    assert "info@example.org -> alice@example.org" in out and "@example.org -> alice" in out
    b.get("/admin/aliases")
    r = b.post("/admin/aliases", {"action": "del", "source": "info@example.org",
                                  "target": "alice@example.org"})
    assert r.status == 303
    assert "info@example.org" not in loft.ctl("alias", "list").stdout

    b.get("/admin/domains")
    r = b.post("/admin/domains", {"action": "add", "domain": "second.test"})
    assert r.status == 303
    assert "second.test" in loft.ctl("domain", "list").stdout
    b.get("/admin/domains")
    r = b.post("/admin/domains", {"action": "del", "domain": "example.org"})
    assert r.status == 409 and "still has mailboxes" in b.body
    r = b.post("/admin/domains", {"action": "add", "domain": "bad domain!"}, csrf=b.csrf())
    assert r.status == 400
    b.get("/admin/domains")
    assert b.post("/admin/domains", {"action": "del", "domain": "second.test"}).status == 303
    assert loft.ctl("domain", "list").stdout.split() == ["example.org"]


def test_script_injection_rendered_inert(env):
    loft, b = env
    evil = '<script>alert(1)</script>"\'><b>x</b>'
    b.get("/admin/aliases")
    # a remote target may hold odd characters; the store refuses or keeps
    # them, and either way the page shows them as text
    b.post("/admin/aliases", {"action": "add", "source": "evil@example.org", "target": evil})
    b.get("/admin/aliases")
    assert "<script>alert(1)" not in b.body and "<b>x</b>" not in b.body
    b.post("/admin/users", {"action": "add", "local": evil, "domain": "example.org",
                            "password": "whatever-1"}, csrf=b.csrf())
    assert "<script>alert(1)" not in b.body
    b.get("/admin/users")
    assert "<script>alert(1)" not in b.body
    b.post("/admin/route", {"action": "save", "mode": "smarthost", "preset": "custom",
                            "host": evil, "port": "587", "tls": "starttls", "user": evil,
                            "password": ""}, csrf=b.csrf())
    assert "<script>alert(1)" not in b.body
    r = b.get("/admin/user?address=" + "%3Cscript%3E@example.org")
    assert r.status == 404 and "<script>" not in b.body
    # event text from the store is escaped too
    with db(loft) as c:
        c.execute("INSERT INTO events(time, kind, text) VALUES(strftime('%s','now'), 'route', ?)",
                  (evil,))
    b.get("/admin/log")
    assert "<script>alert(1)" not in b.body and "&lt;script&gt;alert(1)" in b.body
    b.get("/admin/aliases")
    b.post("/admin/aliases", {"action": "del", "source": "evil@example.org", "target": evil})


def test_route_settings_contract(env):
    loft, b = env
    b.get("/admin/route")
    assert "Not checked yet" in b.body
    r = b.post("/admin/route", {"action": "save", "mode": "smarthost", "preset": "sendgrid",
                                "host": "", "port": "", "tls": "", "user": "",
                                "password": "SG.very-secret"})
    assert r.status == 303
    s = settings(loft)
    assert s["route.mode"] == "smarthost"
    assert s["smarthost.host"] == "smtp.sendgrid.net" and s["smarthost.port"] == "587"
    assert s["smarthost.tls"] == "starttls" and s["smarthost.user"] == "apikey"
    assert s["smarthost.password"] == "SG.very-secret"
    assert s["smarthost.preset"] == "sendgrid"
    b.follow()
    assert "SG.very-secret" not in b.body, "a secret is never echoed"
    assert "smtp.sendgrid.net" in b.body
    assert "SG.very-secret" not in loft.log()
    # the SPF record names the relay
    b.get("/admin/dns")
    assert "include:sendgrid.net" in b.body and "_dmarc.example.org" in b.body
    assert "_submissions._tcp.example.org" in b.body
    # the DKIM record is the public half of the key loft-queue signs with
    assert "loft._domainkey.example.org" in b.body
    m = re.search(r"v=DKIM1; k=rsa; p=([A-Za-z0-9+/=]+)", b.body)
    assert m, "no DKIM record"
    with db(loft) as c:
        pem = c.execute("SELECT key_pem FROM dkim_keys WHERE domain='example.org'").fetchone()[0]
    der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=pem.encode(),
                         capture_output=True, check=True).stdout
    assert base64.b64encode(der).decode() == m.group(1)
    # an empty password keeps the stored one
    b.get("/admin/route")
    b.post("/admin/route", {"action": "save", "mode": "auto", "preset": "sendgrid",
                            "host": "smtp.sendgrid.net", "port": "587", "tls": "starttls",
                            "user": "apikey", "password": ""})
    assert settings(loft)["smarthost.password"] == "SG.very-secret"
    # bad values: a readable message, nothing changed
    before = settings(loft)
    b.get("/admin/route")
    for bad in ({"mode": "sideways"}, {"mode": "auto", "port": "99999"},
                {"mode": "auto", "port": "25x"}, {"mode": "smarthost", "host": "-bad-"},
                {"mode": "auto", "preset": "nope"}):
        f = {"action": "save", "preset": "custom", "host": "relay.example.net",
             "port": "587", "tls": "starttls", "user": "u", "password": ""}
        f.update(bad)
        r = b.post("/admin/route", f, csrf=b.csrf() if "csrf" in b.body else True)
        assert r.status == 400, bad
        assert 'class="note err"' in b.body
    assert settings(loft) == before
    # the verdict written by netwatch is shown in words
    with db(loft) as c:
        c.execute("INSERT OR REPLACE INTO settings VALUES('route.verdict', 'relay')")
    b.get("/admin/route")
    assert "home address that big mail services refuse" in b.body
    assert 'id="evidence"' not in b.body  # netwatch has not run
    # what loft-netwatch saved (its tables) is shown, escaped
    with db(loft) as c:
        c.execute("INSERT INTO netwatch_checks VALUES(7, 1700000000, 1700000005, 'timer',"
                  " '198.51.100.7', 'relay', 'address on the PBL <b>dynamic</b>')")
        c.execute("INSERT INTO netwatch_evidence VALUES(7, 1, 'zen', 'pbl',"
                  " '127.0.0.10 <script>x</script>')")
        c.execute("INSERT INTO netwatch_evidence VALUES(7, 2, 'port25', 'open', 'banner read')")
        c.execute("INSERT INTO netwatch_changes VALUES(1, 1700000005, 'unknown', 'relay', 7,"
                  " 'first check')")
        c.execute("INSERT INTO netwatch_mappings VALUES('tcp', 25, 'upnp', 1, 'mapped', 1, 0)")
    b.get("/admin/route")
    assert "198.51.100.7" in b.body and "banner read" in b.body
    assert "&lt;script&gt;x" in b.body and "<script>x" not in b.body
    assert "<b>dynamic</b>" not in b.body
    assert "unknown → relay" in b.body and "forwarded" in b.body
    # "check now" asks loft-netwatch through loftd
    b.get("/admin/route")
    r = b.post("/admin/route", {"action": "recheck"})
    assert r.status == 303
    b.follow()
    assert "checking your connection now" in b.body
    assert loft.wait_log("event=netwatch-check-asked")
    # the A record to publish is the public address netwatch found
    b.get("/admin/dns")
    assert "<code id=\"rec-2\">198.51.100.7</code>" in b.body
    with db(loft) as c:
        for t in ("netwatch_checks", "netwatch_evidence", "netwatch_changes", "netwatch_mappings"):
            c.execute("DELETE FROM " + t)


def test_queue_retry_and_delete(env):
    loft, b = env
    with db(loft) as c:
        for i in range(3):
            c.execute("INSERT INTO queue(message_id, mail_from, rcpt, created, next_attempt,"
                      " attempts, status, last_error) VALUES(NULL, 'alice@example.org', ?,"
                      " 1, 4000000000, 2, 'deferred', '451 4.7.1 try later')",
                      ("r%d@remote.test" % i,))
        ids = [r[0] for r in c.execute("SELECT id FROM queue WHERE status='deferred' ORDER BY id")]
    b.get("/admin")
    assert re.search(r'id="st-queue"><b>3</b>', b.body)
    b.get("/admin/queue")
    assert "r0@remote.test" in b.body and "451 4.7.1 try later" in b.body
    r = b.post("/admin/queue", {"action": "retry", "id": str(ids[0])})
    assert r.status == 303
    with db(loft) as c:
        na = c.execute("SELECT next_attempt FROM queue WHERE id=?", (ids[0],)).fetchone()[0]
    assert na <= time.time() + 1
    b.get("/admin/queue")
    assert b.post("/admin/queue", {"action": "delete", "id": str(ids[1])}).status == 303
    b.get("/admin/queue")
    assert b.post("/admin/queue", {"action": "delete", "id": str(ids[1])}).status == 404
    r = b.post("/admin/queue", {"action": "delete", "id": "1; DROP TABLE queue"},
               csrf=b.csrf())
    assert r.status == 400
    b.get("/admin/queue")
    assert b.post("/admin/queue", {"action": "flush"}).status == 303
    with db(loft) as c:
        left = c.execute("SELECT count(*) FROM queue WHERE status='deferred'"
                         " AND next_attempt > strftime('%s','now') + 5").fetchone()[0]
        assert left == 0
        c.execute("DELETE FROM queue")


def parse_autoconfig(xml):
    root = ET.fromstring(xml)
    assert root.tag == "clientConfig"
    servers = {}
    for s in root.iter():
        if s.tag in ("incomingServer", "outgoingServer"):
            servers.setdefault(s.get("type"), []).append(
                {c.tag: c.text for c in s})
    return root, servers


@pytest.mark.parametrize("path", ["/mail/config-v1.1.xml",
                                  "/.well-known/autoconfig/mail/config-v1.1.xml"])
def test_autoconfig_client_logs_in(env, path):
    """Thunderbird's way: fetch autoconfig (no login), then log in over
    IMAP and SMTP with exactly what it says."""
    loft, b = env
    anon = Browser(loft)
    r = anon.get(path + "?emailaddress=alice@example.org")
    assert r.status == 200 and "xml" in r.getheader("Content-Type")
    root, servers = parse_autoconfig(anon.body)
    assert root.find("emailProvider").get("id") == "example.org"
    imap = servers["imap"][0]
    assert imap["hostname"] == "mail.example.org"
    assert int(imap["port"]) == loft.port("imaps") and imap["socketType"] == "SSL"
    assert imap["username"] == "alice@example.org"
    smtp = {s["socketType"]: s for s in servers["smtp"]}
    assert int(smtp["SSL"]["port"]) == loft.port("submissions")
    assert int(smtp["STARTTLS"]["port"]) == loft.port("submission")
    # the host name resolves to this box in real life; here to loopback
    with imaplib.IMAP4_SSL("127.0.0.1", int(imap["port"]), ssl_context=tls()) as m:
        m.login(imap["username"], ALICE[1])
    with smtplib.SMTP_SSL("127.0.0.1", int(smtp["SSL"]["port"]), context=tls(), timeout=30) as s:
        s.login(smtp["SSL"]["username"], ALICE[1])
    with smtplib.SMTP("127.0.0.1", int(smtp["STARTTLS"]["port"]), timeout=30) as s:
        s.starttls(context=tls())
        s.login(smtp["STARTTLS"]["username"], ALICE[1])
    # without an address, the placeholder Thunderbird fills in
    anon.get(path)
    _, servers = parse_autoconfig(anon.body)
    assert servers["imap"][0]["username"] == "%EMAILADDRESS%"
    # an address that is not ours, or markup, is not echoed
    anon.get(path + "?emailaddress=%3Cx%3E@example.org")
    assert "<x>" not in anon.body and "&lt;x&gt;" not in anon.body


def test_autodiscover(env):
    loft, b = env
    req = ('<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.'
           'microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>'
           '<EMailAddress>alice@example.org</EMailAddress><AcceptableResponseSchema>'
           'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'
           '</AcceptableResponseSchema></Request></Autodiscover>')
    anon = Browser(loft)
    r = anon.request("POST", "/autodiscover/autodiscover.xml", req,
                     {"Content-Type": "text/xml"})
    assert r.status == 200
    ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
    root = ET.fromstring(anon.body)
    protos = {p.find("a:Type", ns).text: p for p in root.iter(
        "{%s}Protocol" % ns["a"])}
    assert protos["IMAP"].find("a:Server", ns).text == "mail.example.org"
    assert int(protos["IMAP"].find("a:Port", ns).text) == loft.port("imaps")
    assert int(protos["SMTP"].find("a:Port", ns).text) == loft.port("submissions")
    assert protos["SMTP"].find("a:LoginName", ns).text == "alice@example.org"
    # an unknown address gets Outlook's error document, no settings
    r = anon.request("POST", "/autodiscover/autodiscover.xml",
                     req.replace("alice@example.org", "x@other.test"),
                     {"Content-Type": "text/xml"})
    assert "<ErrorCode>600</ErrorCode>" in anon.body and "Protocol" not in anon.body


def test_mobileconfig_and_signed_link(env):
    loft, b = env
    r = b.get("/admin/user/profile.mobileconfig?address=alice@example.org")
    assert r.status == 200
    assert r.getheader("Content-Type") == "application/x-apple-aspen-config"
    p = plistlib.loads(b.body.encode())
    assert p["PayloadType"] == "Configuration" and p["PayloadVersion"] == 1
    acct = p["PayloadContent"][0]
    assert acct["PayloadType"] == "com.apple.mail.managed"
    assert acct["EmailAddress"] == "alice@example.org"
    assert acct["IncomingMailServerHostName"] == "mail.example.org"
    assert acct["IncomingMailServerPortNumber"] == loft.port("imaps")
    assert acct["IncomingMailServerUseSSL"] is True
    assert acct["OutgoingMailServerPortNumber"] == loft.port("submissions")
    assert acct["OutgoingMailServerUseSSL"] is True
    assert "IncomingPassword" not in acct
    assert re.fullmatch(r"[0-9A-F-]{36}", acct["PayloadUUID"])
    # the QR code's link opens the same profile without a login
    b.get("/admin/user?address=alice@example.org")
    link = re.search(r'id="profile-link" href="([^"]+)"', b.body).group(1).replace("&amp;", "&")
    path = link.split("/", 3)[3]
    anon = Browser(loft)
    r = anon.get("/" + path)
    assert r.status == 200 and plistlib.loads(anon.body.encode())["PayloadContent"][0][
        "EmailAddress"] == "alice@example.org"
    # a tampered link: another address, another expiry, another MAC
    parts = path.split("/")
    other = "bob@example.org".encode().hex()
    for bad in ([parts[0], other, parts[2], parts[3]],
                [parts[0], parts[1], str(int(parts[2]) + 3600), parts[3]],
                [parts[0], parts[1], parts[2], "0" * 64],
                [parts[0], parts[1], "1", parts[3]],
                [parts[0], "zz", parts[2], parts[3]]):
        assert anon.get("/" + "/".join(bad)).status == 404, bad


def test_backup_and_restore(env):
    loft, b = env
    r = b.get("/admin/backup")
    assert r.status == 200
    assert "attachment" in r.getheader("Content-Disposition")
    # http.client decoded the body as text; fetch raw bytes again
    c = b.conn()
    c.request("GET", "/admin/backup", headers={"Cookie": b.cookie})
    raw = c.getresponse().read()
    assert raw.startswith(b"SQLite format 3\x00")
    path = os.path.join(loft.dir, "..", "backup-test.db")
    with open(path, "wb") as f:
        f.write(raw)
    with sqlite3.connect(path) as c2:
        assert c2.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c2.execute("SELECT address FROM users").fetchall() == [("alice@example.org",)]
    assert not [f for f in os.listdir(loft.dir) if f.startswith("backup-download")]
    # a change, then the restore takes it back
    loft.add_user("carol@example.org", "carol-secret-1")
    b.get("/admin/system")
    token = b.csrf()
    boundary = "----loftboundary"
    body = (("--%s\r\nContent-Disposition: form-data; name=\"backup\"; filename=\"b.db\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n" % boundary).encode() + raw +
            ("\r\n--%s--\r\n" % boundary).encode())
    ct = "multipart/form-data; boundary=" + boundary
    # without the token: refused, nothing restored
    r = b.request("POST", "/admin/restore", body, {"Content-Type": ct})
    assert r.status == 403
    assert "carol@example.org" in loft.ctl("user", "list").stdout
    # not a database: refused, nothing changed
    junk = body.replace(raw, b"not a database" * 100)
    r = b.request("POST", "/admin/restore?csrf=" + token, junk, {"Content-Type": ct})
    assert r.status == 400 and "not a Loft backup" in b.body
    assert "carol@example.org" in loft.ctl("user", "list").stdout
    r = b.request("POST", "/admin/restore?csrf=" + token, body, {"Content-Type": ct})
    assert r.status == 303 and r.getheader("Location") == "/login"
    assert "carol@example.org" not in loft.ctl("user", "list").stdout
    assert not [f for f in os.listdir(loft.dir) if f.startswith("restore-upload")]
    # the restored sessions table is the backup's: this browser logs in again
    b.get("/login")
    assert b.post("/login", {"password": ADMIN_PW}).status == 303


def test_upload_of_100mb_refused(env):
    loft, b = env
    b.get("/admin/system")
    token = b.csrf()
    s = socket.create_connection(("127.0.0.1", loft.port("http")), timeout=30)
    s.sendall(("POST /admin/restore?csrf=%s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n"
               "Content-Type: multipart/form-data; boundary=x\r\n"
               "Content-Length: %d\r\n\r\n" % (token, b.cookie, 100 << 20)).encode())
    head = s.recv(4096).decode()
    s.close()
    assert head.startswith("HTTP/1.1 413"), head
    assert b.get("/admin").status == 200
    # without a login, an upload is refused before a byte of it is read
    s = socket.create_connection(("127.0.0.1", loft.port("http")), timeout=30)
    s.sendall(("POST /admin/restore?csrf=%s HTTP/1.1\r\nHost: x\r\n"
               "Content-Type: multipart/form-data; boundary=x\r\n"
               "Content-Length: %d\r\n\r\n" % (token, 10 << 20)).encode())
    head = s.recv(4096).decode()
    s.close()
    assert head.startswith("HTTP/1.1 403"), head


def test_admin_password_change(env):
    loft, b = env
    other = Browser(loft)
    other.get("/login")
    assert other.post("/login", {"password": ADMIN_PW}).status == 303
    b.get("/admin/system")
    r = b.post("/admin/password", {"action": "change", "current": "wrong", "password": "x" * 12,
                                   "password2": "x" * 12})
    assert r.status == 403
    b.get("/admin/system")
    r = b.post("/admin/password", {"action": "change", "current": ADMIN_PW,
                                   "password": "new admin pass", "password2": "new admin pass"})
    assert r.status == 303
    assert b.get("/admin").status == 200, "the changing session stays logged in"
    r = other.get("/admin")
    assert r.status == 302, "every other session is logged out"
    b.get("/admin/system")
    b.post("/admin/password", {"action": "change", "current": "new admin pass",
                               "password": ADMIN_PW, "password2": ADMIN_PW})


def test_acme_challenge_served(env):
    loft, b = env
    os.makedirs(os.path.join(loft.dir, "acme"), exist_ok=True)
    with open(os.path.join(loft.dir, "acme", "tok-EN_123"), "w") as f:
        f.write("tok-EN_123.thumbprint")
    anon = Browser(loft)
    r = anon.get("/.well-known/acme-challenge/tok-EN_123")
    assert r.status == 200 and anon.body == "tok-EN_123.thumbprint"
    for bad in ("../loft.db", "..%2Floft.db", "a/b", ""):
        assert anon.get("/.well-known/acme-challenge/" + bad).status == 404


def test_https_redirect_after_setup(tmp_path):
    with admin_loft(tmp_path, conf={"admin.require_https": "yes"}) as loft:
        loft.start()
        b = Browser(loft)
        # before set-up, plain HTTP serves the wizard (first run on the LAN)
        r = b.get("/setup")
        assert r.status == 200
        bs = Browser(loft, https=True)
        wizard_to(bs, 9, user=None)
        r = b.get("/admin")
        assert r.status == 301
        assert r.getheader("Location") == "https://127.0.0.1:%d/admin" % loft.port("https")
        # a Host header cannot inject a path or scheme
        r = b.request("GET", "/admin", headers={"Host": "evil.test/x?y"})
        assert r.getheader("Location").startswith("https://evil.test:")
        assert "/x" not in r.getheader("Location").split(":", 2)[2].split("/", 1)[0]
        # the autoconfig and challenge paths stay on HTTP
        assert b.get("/mail/config-v1.1.xml").status == 200
        assert bs.get("/admin").status == 200
        assert "Strict-Transport-Security" in dict(bs.last.getheaders())


def test_relay_test_connection(env):
    """The "test the saved relay" button: loft's own submission port plays
    the relay (implicit TLS, AUTH); the page shows what happened."""
    loft, b = env
    b.get("/admin/route")
    r = b.post("/admin/route", {"action": "save", "mode": "auto", "preset": "custom",
                                "host": "127.0.0.1", "port": str(loft.port("submissions")),
                                "tls": "tls", "user": "alice@example.org",
                                "password": ALICE[1]})
    assert r.status == 303
    with db(loft) as c:  # loft's certificate is self-signed
        c.execute("INSERT OR REPLACE INTO settings VALUES('smarthost.verify', '0')")
    b.get("/admin/route")
    r = b.post("/admin/route", {"action": "test"})
    assert r.status == 200
    assert 'class="note ok"' in b.body and "Connected to 127.0.0.1" in b.body, b.body[-3000:]
    assert "login accepted" in b.body and "TLSv1" in b.body
    assert ALICE[1] not in b.body
    # a wrong password: the relay's refusal, in the page
    with db(loft) as c:
        c.execute("UPDATE settings SET value='wrong-password' WHERE key='smarthost.password'")
    b.get("/admin/route")
    b.post("/admin/route", {"action": "test"})
    assert 'class="note err"' in b.body and "535" in b.body, b.body[-3000:]
    # nothing listening
    with db(loft) as c:
        c.execute("UPDATE settings SET value=? WHERE key='smarthost.port'", (str(free_port()),))
    b.get("/admin/route")
    b.post("/admin/route", {"action": "test"})
    assert 'class="note err"' in b.body
    # the wizard's step 4 has the same button (set-up is done: it redirects)
    with db(loft) as c:
        for k in ("smarthost.host", "smarthost.port", "smarthost.tls", "smarthost.user",
                  "smarthost.password", "smarthost.verify"):
            c.execute("DELETE FROM settings WHERE key=?", (k,))
    b.get("/admin/route")
    b.post("/admin/route", {"action": "test"})
    assert "No relay server is set" in b.body
