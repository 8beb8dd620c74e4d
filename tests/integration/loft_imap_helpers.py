"""Shared set-up for the loft-imapd integration tests (test_imap*.py,
test_pop3.py, test_auth_concurrency.py): a started Loft with example.org and
its users, the stop-time checks (no sanitizer report, exit status 0, no
password in the log), TLS that trusts the dev certificate, and a socket read
line by line for IMAP spoken by hand.

Plain functions, no fixtures: each test file keeps its own fixture (scope,
temp-dir name, users and conf differ) and builds it from these.
"""
import imaplib
import os
import socket

import pytest

from loft_smtp_helpers import tls_ctx
from loftenv import Loft, binary

USER, PASS = "a@example.org", "s3cret pw"


# ctx(): a client TLS context that accepts the Loft's self-signed dev cert
# (one definition for both helper modules).
ctx = tls_ctx


def require_binary(name):
    """Fail the calling test/fixture when build output `name` is missing: a
    daemon that does not build is a failure, not a reason to skip."""
    if not os.access(binary(name), os.X_OK):
        pytest.fail("%s is not built in %s" % (name, os.path.dirname(binary(name))))


def start_loft(tmpdir, users, enable=("imapd",), conf=None, domain="example.org"):
    """A started Loft with `domain` and `users` ({address: password}); the
    caller stops it (finish())."""
    lf = Loft(tmpdir, enable=list(enable), conf=conf)
    lf.add_domain(domain)
    for address, password in users.items():
        lf.add_user(address, password)
    lf.start()
    return lf


def finish(lf, secret=None, sanitizer="AddressSanitizer"):
    """Stop lf and assert: no sanitizer report or UB runtime error in the
    log, `secret` (a password) never logged, loftd exited 0."""
    rc = lf.stop()
    log = lf.log()
    assert sanitizer not in log and "runtime error" not in log, log[-4000:]
    if secret is not None:
        assert secret not in log and "wrong " + secret not in log, "a password reached the log"
    assert rc == 0


def running_loft(tmpdir, users, secret=None, sanitizer="AddressSanitizer", **kw):
    """Generator for a fixture body: `yield from running_loft(...)` yields a
    started Loft and runs finish() on it at teardown."""
    lf = start_loft(tmpdir, users, **kw)
    yield lf
    finish(lf, secret, sanitizer)


def imap_ssl(loft, user=USER, password=PASS, login=True, **kw):
    """imaplib over implicit TLS to loft's imaps port, logged in unless
    login is false."""
    m = imaplib.IMAP4_SSL("127.0.0.1", loft.port("imaps"), ssl_context=ctx(), **kw)
    if login:
        m.login(user, password)
    return m


def tls_connect(port):
    """A TLS socket to 127.0.0.1:port (certificate not verified)."""
    return ctx().wrap_socket(socket.create_connection(("127.0.0.1", port)))


class Lines:
    """A socket read line by line (CRLF), for protocols spoken by hand."""

    def __init__(self, sock, timeout=10):
        self.s = sock
        self.s.settimeout(timeout)
        self.buf = b""

    def line(self):
        """The next line without its CRLF; EOFError if the peer closed."""
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def send(self, data):
        self.s.sendall(data)

    def until_tag(self, tag):
        """Every line up to and including the tagged one."""
        out = []
        while True:
            l = self.line()
            out.append(l)
            if l.startswith(tag + b" "):
                return out

    def cmd(self, line):
        """Send one IMAP command line; its responses, tagged one last."""
        tag = line.split(b" ", 1)[0]
        self.send(line + b"\r\n")
        return self.until_tag(tag)

    def close(self):
        self.s.close()


class ImapRaw(Lines):
    """IMAP by hand: greeting checked and, if login, logged in with
    LOGIN (tag "l") as user/password."""

    def __init__(self, sock, login=True, user=USER, password=PASS, timeout=10):
        super().__init__(sock, timeout)
        assert self.line().startswith(b"* OK")
        if login:
            l = b'l LOGIN ' + user.encode() + b' "' + password.encode() + b'"'
            assert self.cmd(l)[-1].startswith(b"l OK")
