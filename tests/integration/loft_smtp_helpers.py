"""Helpers for the loft-smtpd integration tests (test_smtpd_*.py): a started
Loft with a domain and users, a raw-socket SMTP client for the tests no
polite client can do, and read-back of stored mail.

Read-back opens DATADIR/loft.db read-only with Python's sqlite3 (the same
library the sqlite3 CLI uses); loftctl has no "show a message" command yet.
"""
import os
import socket
import sqlite3
import ssl
import time

from loftenv import Loft

PASSWORDS = {"a@example.org": "secret-a", "b@example.org": "secret-b",
             "c@example.net": "secret-c"}


def start_loft(tmp_path, conf=None):
    """A running Loft with example.org (a@, b@, aliases) and example.net (c@,
    catch-all to c@)."""
    base = {"smtpd.greeting_delay_ms": "50"}
    base.update(conf or {})
    loft = Loft(tmp_path, enable=["smtpd"], conf=base)
    loft.add_domain("example.org")
    loft.add_domain("example.net")
    for a, p in PASSWORDS.items():
        loft.add_user(a, p)
    loft.ctl("alias", "add", "sales@example.org", "a@example.org")
    loft.ctl("alias", "add", "team@example.org", "a@example.org")
    loft.ctl("alias", "add", "team@example.org", "b@example.org")
    loft.ctl("alias", "add", "@example.net", "c@example.net")
    loft.start()
    return loft


def assert_clean(loft):
    """After stop: loft-smtpd never died and no sanitizer spoke."""
    log = loft.log()
    assert "event=child-died name=loft-smtpd" not in log, log[-3000:]
    assert "Sanitizer" not in log and "runtime error" not in log, log[-6000:]


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def db(loft):
    return sqlite3.connect("file:%s/loft.db?mode=ro" % loft.dir, uri=True, timeout=10)


def inbox(loft, address):
    """Raw bytes of every message in address's INBOX, in UID order."""
    with db(loft) as c:
        rows = c.execute(
            "SELECT m.raw FROM entries e JOIN mailboxes x ON x.id = e.mailbox_id "
            "JOIN users u ON u.id = x.user_id JOIN messages m ON m.id = e.message_id "
            "WHERE u.address = ? AND x.name = 'INBOX' ORDER BY e.uid", (address,)).fetchall()
    return [bytes(r[0]) for r in rows]


def queue(loft):
    """[(mail_from, rcpt, raw)] of the outbound queue."""
    with db(loft) as c:
        rows = c.execute("SELECT q.mail_from, q.rcpt, m.raw FROM queue q "
                         "JOIN messages m ON m.id = q.message_id ORDER BY q.id").fetchall()
    return [(a, b, bytes(r)) for a, b, r in rows]


def message_count(loft):
    with db(loft) as c:
        return c.execute("SELECT count(*) FROM messages").fetchone()[0]


def split_trace(raw):
    """Splits off the header fields loft-smtpd adds in front (Return-Path,
    Received, and on submission Message-ID/Date); returns (trace, rest)."""
    pos = 0
    while True:
        end = raw.index(b"\r\n", pos) + 2
        while raw[end:end + 1] in (b" ", b"\t"):
            end = raw.index(b"\r\n", end) + 2
        name = raw[pos:raw.index(b":", pos)].lower()
        if name not in (b"return-path", b"received", b"message-id", b"date"):
            return raw[:pos], raw[pos:]
        pos = end


def strip_trace(raw):
    """The message as the client sent it, assuming the client's own first
    header is not one of the added ones."""
    return split_trace(raw)[1]


class Raw:
    """A line-oriented SMTP client on a raw socket."""

    def __init__(self, port, tls=False, greet=True, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            self.s = tls_ctx().wrap_socket(self.s)
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed; buffered %r" % self.buf)
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l.decode("utf-8", "replace")

    def reply(self):
        """One (possibly multi-line) reply: (code, text of the last line)."""
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if len(l) < 4 or l[3] != "-":
                break
        return int(lines[-1][:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True once the server closed the connection (after any replies)."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def starttls(self):
        code, _ = self.cmd("STARTTLS")
        assert code == 220
        self.s = tls_ctx().wrap_socket(self.s)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for(fn, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()
