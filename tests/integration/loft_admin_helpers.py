"""A browser-like client for loft-admin built on http.client: keeps the
session cookie, reads the CSRF token out of each form, follows nothing by
itself (tests look at every redirect)."""
import http.client
import re
import ssl
import urllib.parse

from loftenv import Loft

ADMIN_CONF = {"admin.require_https": "no"}


def admin_loft(tmp_path, conf=None, enable=("admin",)):
    c = dict(ADMIN_CONF)
    c.update(conf or {})
    return Loft(tmp_path, enable=list(enable), conf=c)


class Browser:
    def __init__(self, loft, https=False):
        self.loft = loft
        self.https = https
        self.cookie = None
        self.cookie_attrs = None
        self.last = None
        self.body = ""
        self.token = None

    def conn(self):
        if self.https:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.loft.port("https"),
                                               context=ctx, timeout=30)
        return http.client.HTTPConnection("127.0.0.1", self.loft.port("http"), timeout=30)

    def request(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        c = self.conn()
        c.request(method, path, body, h)
        r = c.getresponse()
        self.body = r.read().decode("utf-8", "replace")
        c.close()
        sc = r.getheader("Set-Cookie")
        if sc:
            self.cookie_attrs = sc
            pair = sc.split(";")[0]
            self.cookie = None if pair.endswith("=") else pair
        self.last = r
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', self.body)
        if m:
            self.token = m.group(1)
        elif sc:
            self.token = None  # a new session has a new token
        return r

    def get(self, path):
        return self.request("GET", path)

    def csrf(self):
        """The CSRF token of the last page that had a form."""
        assert self.token, "no CSRF field seen; last page:\n" + self.body[-2000:]
        return self.token

    def post(self, path, fields, csrf=True):
        f = dict(fields)
        if csrf is True:
            f["csrf"] = self.csrf()
        elif csrf:
            f["csrf"] = csrf
        return self.request("POST", path, urllib.parse.urlencode(f),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def follow(self):
        loc = self.last.getheader("Location")
        assert loc, "no redirect (status %d)" % self.last.status
        return self.get(loc)


ADMIN_PW = "correct horse battery"


def wizard_to(b, step, domain="example.org", user=("alice", "alice-secret-1")):
    """Walks the wizard from the start up to (not including) step."""
    r = b.get("/setup")
    assert r.status == 200 and "step 1 of 8" in b.body, b.body[-1500:]
    r = b.post("/setup", {"step": "1", "password": ADMIN_PW, "password2": ADMIN_PW})
    assert r.status == 303, b.body[-1500:]
    b.follow()
    if step <= 2:
        return
    r = b.post("/setup", {"step": "2", "domain": domain, "hostname": ""})
    assert r.status == 303, b.body[-1500:]
    b.follow()
    if step <= 3:
        return
    b.post("/setup", {"step": "3"})
    b.follow()
    if step <= 4:
        return
    r = b.post("/setup", {"step": "4", "mode": "auto", "preset": "custom", "host": "",
                          "port": "587", "tls": "starttls", "user": "", "password": ""})
    assert r.status == 303, b.body[-1500:]
    b.follow()
    if step <= 5:
        return
    b.post("/setup", {"step": "5"})
    b.follow()
    if step <= 6:
        return
    if user:
        r = b.post("/setup", {"step": "6", "action": "add", "local": user[0],
                              "password": user[1]})
        assert r.status == 200 and "Mailbox added" in b.body, b.body[-1500:]
    b.post("/setup", {"step": "6", "action": "next"})
    b.follow()
    if step <= 7:
        return
    b.post("/setup", {"step": "7"})
    b.follow()
    if step <= 8:
        return
    r = b.post("/setup", {"step": "8"})
    assert r.status == 303 and r.getheader("Location") == "/admin"
