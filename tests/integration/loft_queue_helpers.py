"""Helpers for the loft-queue tests (test_queue_*.py): remote MXes and a
smarthost played by aiosmtpd on loopback addresses, DNS served by dnsmasq
on loopback, a test CA made with openssl, and submission through the real
loft-smtpd.

    dns = Dns(tmp_path, mx={"example.net": [(10, "mx1.example.net")]},
              a={"mx1.example.net": "127.0.0.2"})
    mx = Sink("127.0.0.2", port)
"""
import asyncio
import email.utils
import os
import smtplib
import socket
import struct
import sqlite3
import ssl
import subprocess
import threading
import tempfile
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from loftenv import Loft, free_port

USERS = {"a@example.org": "secret-a", "b@example.org": "secret-b"}


class Handler:
    """Records every accepted message; rcpt_codes maps an address to the
    reply its RCPT gets; data_codes is a list of replies the end of data
    gets in turn (then 250)."""

    def __init__(self):
        self.messages = []  # (mail_from, [rcpts], bytes)
        self.rcpt_codes = {}
        self.data_codes = []
        self.mail_codes = []
        self.sessions = 0
        self.lock = threading.Lock()
        self.hold = None  # threading.Event: DATA waits for it

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        if self.mail_codes:
            return self.mail_codes.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        code = self.rcpt_codes.get(address.lower())
        if code:
            return code
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hold is not None:
            await asyncio.get_event_loop().run_in_executor(None, self.hold.wait, 30)
        if self.data_codes:
            return self.data_codes.pop(0)
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  envelope.original_content, list(envelope.mail_options)))
        return "250 2.0.0 queued as test"


class Sink:
    """aiosmtpd on host:port.  tls: an ssl.SSLContext offered by STARTTLS
    (required when require_tls); auth: {user: password} demanded."""

    def __init__(self, host, port, tls=None, require_tls=False, auth=None, smtputf8=True):
        self.handler = Handler()
        kw = {}
        if tls:
            kw["tls_context"] = tls
            kw["require_starttls"] = require_tls
        if auth:
            def check(server, session, envelope, mechanism, data):
                if isinstance(data, LoginPassword):
                    u, p = data.login.decode(), data.password.decode()
                    ok = auth.get(u) == p
                    return AuthResult(success=ok, handled=False)
                return AuthResult(success=False, handled=False)
            kw["authenticator"] = check
            kw["auth_required"] = True
            kw["auth_require_tls"] = bool(tls)
        self.ctl = Controller(self.handler, hostname=host, port=port,
                              decode_data=False, enable_SMTPUTF8=smtputf8,
                              ready_timeout=10, **kw)
        self.ctl.start()

    @property
    def messages(self):
        with self.handler.lock:
            return list(self.handler.messages)

    def wait(self, n, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if len(self.messages) >= n:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        self.ctl.stop()


class Dns:
    """dnsmasq answering only from its command line, on 127.0.0.1:port.
    mx: {domain: [(pref, host)]}; a: {host: ip}; aaaa: {host: ip6};
    txt: {name: text}."""

    def __init__(self, tmp_path, mx=None, a=None, aaaa=None, txt=None, local=(), port=None):
        self.tmp = tmp_path
        self.port = port or free_port()
        args = ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
                "--port=%d" % self.port, "--pid-file=", "--user=root",
                "--log-facility=%s" % os.path.join(str(tmp_path), "dnsmasq.log"),
                "--log-queries"]
        for dom, hosts in (mx or {}).items():
            for pref, host in hosts:
                args.append("--mx-host=%s,%s,%d" % (dom, host, pref))
        for host, ip in (a or {}).items():
            for one in ([ip] if isinstance(ip, str) else ip):
                args.append("--host-record=%s,%s" % (host, one))
        for host, ip in (aaaa or {}).items():
            args.append("--host-record=%s,%s" % (host, ip))
        for name, text in (txt or {}).items():
            # one string of at most 255 bytes each (a DKIM key needs two)
            parts = [text[k:k + 250] for k in range(0, len(text), 250)] or [""]
            args.append("--txt-record=%s,%s" % (name, ",".join(parts)))
        # answer NODATA/NXDOMAIN for these names instead of REFUSED
        names = set(local) | set(mx or {}) | set(a or {}) | set(aaaa or {}) | set(txt or {})
        for n in sorted(names):
            args.append("--local=/%s/" % n)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise AssertionError("dnsmasq failed: %s" % self.proc.stderr.read())

    def restart(self, **kw):
        """The same server on the same port with other records (dnsmasq
        reads them only from its command line)."""
        self.stop()
        self.__init__(self.tmp, port=self.port, **kw)

    def query_txt(self, name, timeout=5):
        """The TXT record of name from this server (its strings joined),
        or None: for python3-dkim's dnsfunc."""
        if isinstance(name, bytes):
            name = name.decode()
        name = name.rstrip(".")
        q = struct.pack(">HHHHHH", 0x4c6f, 0x0100, 1, 0, 0, 0)
        q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        q += struct.pack(">HH", 16, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(q, ("127.0.0.1", self.port))
            d = s.recv(4096)
        an = struct.unpack(">H", d[6:8])[0]
        i = len(q)
        for _ in range(an):
            if d[i] & 0xC0 == 0xC0:
                i += 2
            else:
                while d[i]:
                    i += d[i] + 1
                i += 1
            typ, _, _, rdlen = struct.unpack(">HHIH", d[i:i + 10])
            i += 10
            rd = d[i:i + rdlen]
            i += rdlen
            if typ == 16:
                out, k = b"", 0
                while k < len(rd):
                    out += rd[k + 1:k + 1 + rd[k]]
                    k += 1 + rd[k]
                return out
        return None

    @property
    def servers(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def make_ca(tmp_path, names):
    """A test CA and a server certificate for names (first is the CN).
    Returns (ca_pem_path, server ssl.SSLContext)."""
    # the daemons run as the loft user: the CA must be readable by it
    d = tempfile.mkdtemp(prefix="loft-ca-", dir="/tmp")
    os.chmod(d, 0o755)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, crt = (os.path.join(d, "srv.key"), os.path.join(d, "srv.csr"),
                     os.path.join(d, "srv.pem"))
    ext = os.path.join(d, "ext.cnf")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=Loft Test CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=%s" % names[0])
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + n for n in names) + "\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
        "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    os.chmod(ca_crt, 0o644)
    return ca_crt, ctx


def start_loft(tmp_path, dns, conf=None, settings=None):
    """loft-smtpd and loft-queue with example.org (a@, b@), its resolver
    pointed at dns, retries after one second."""
    base = {"smtpd.greeting_delay_ms": "0", "dns_servers": dns.servers,
            "queue.retry_min": "1", "queue.retry_max": "2", "queue.timeout": "10",
            "queue.connect_timeout": "5", "queue.scan_ms": "200"}
    base.update(conf or {})
    loft = Loft(tmp_path, enable=["smtpd", "queue"], conf=base)
    loft.add_domain("example.org")
    for a, p in USERS.items():
        loft.add_user(a, p)
    for k, v in (settings or {}).items():
        set_setting(loft, k, v)
    loft.start()
    return loft


def db(loft, write=False):
    if write:
        return sqlite3.connect(os.path.join(loft.dir, "loft.db"), timeout=10)
    return sqlite3.connect("file:%s/loft.db?mode=ro" % loft.dir, uri=True, timeout=10)


def set_setting(loft, key, value):
    c = db(loft, write=True)
    with c:
        if value is None:
            c.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            c.execute("INSERT OR REPLACE INTO settings(key, value) VALUES(?, ?)", (key, value))
    c.close()


def rows(loft):
    """[(id, rcpt, status, attempts, last_error)] of the queue."""
    c = db(loft)
    r = c.execute("SELECT id, rcpt, status, attempts, last_error FROM queue ORDER BY id").fetchall()
    c.close()
    return r


def wait_rows(loft, pred, timeout=30):
    end = time.time() + timeout
    r = rows(loft)
    while time.time() < end:
        r = rows(loft)
        if pred(r):
            return r
        time.sleep(0.1)
    raise AssertionError("queue never got there: %r\n%s" % (r, loft.log()[-4000:]))


def submit(loft, to, body=None, sender="a@example.org", subject="hello", msg=None):
    """Sends through loft-smtpd's submission port as sender; returns the
    message bytes given to smtplib."""
    if msg is None:
        msg = ("From: A <%s>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
               "Message-ID: <%s@example.org>\r\n\r\n%s" % (
                   sender, ", ".join(to), subject, email.utils.formatdate(),
                   os.urandom(6).hex(),
                   body or "Hello there.\r\n.leading dot line\r\nbye\r\n")).encode()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", loft.port("submission"), timeout=30) as s:
        s.starttls(context=ctx)
        s.login(sender, USERS[sender])
        s.sendmail(sender, to, msg)
    return msg


def inbox(loft, address):
    c = db(loft)
    r = c.execute(
        "SELECT m.raw FROM entries e JOIN mailboxes x ON x.id = e.mailbox_id "
        "JOIN users u ON u.id = x.user_id JOIN messages m ON m.id = e.message_id "
        "WHERE u.address = ? AND x.name = 'INBOX' ORDER BY e.uid", (address,)).fetchall()
    c.close()
    return [bytes(x[0]) for x in r]


def strip_trace(raw):
    """The message without the trace fields a hop adds in front
    (Received, Return-Path, DKIM-Signature)."""
    lines = raw.split(b"\r\n")
    i = 0
    while i < len(lines):
        l = lines[i]
        if l[:1] in (b" ", b"\t") or l.lower().startswith((b"received:", b"return-path:",
                                                           b"dkim-signature:")):
            i += 1
            continue
        break
    return b"\r\n".join(lines[i:])


def assert_clean(loft, killed=False):
    log = loft.log()
    assert killed or "event=child-died name=loft-queue" not in log, log[-3000:]
    assert "Sanitizer" not in log and "runtime error" not in log, log[-6000:]


class Fake:
    """A scripted SMTP peer on host:port for the behaviours aiosmtpd will
    not show (garbage, over-long lines, silence, broken TLS, no 8BITMIME).
    script(sock, f) runs per connection in a thread; f is sock.makefile("rb")."""

    def __init__(self, host, port, script):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.script = script
        self.conns = 0
        self.log = []
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        try:
            c.settimeout(30)
            self.script(self, c, c.makefile("rb"))
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


def smtp_script(ehlo_lines, on_data=None):
    """A plain SMTP server script offering ehlo_lines (e.g. ["PIPELINING"]);
    records (mail, rcpts, data) in fake.log."""
    def run(fake, c, f):
        c.sendall(b"220 fake ESMTP\r\n")
        mail, rcpts = None, []
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                ls = [b"fake"] + [x.encode() for x in ehlo_lines]
                c.sendall(b"".join(b"250%s%s\r\n" % (b" " if i == len(ls) - 1 else b"-", x)
                                   for i, x in enumerate(ls)))
            elif cmd.startswith(b"MAIL"):
                mail, rcpts = line.strip(), []
                c.sendall(b"250 ok\r\n")
            elif cmd.startswith(b"RCPT"):
                rcpts.append(line.strip())
                c.sendall(b"250 ok\r\n")
            elif cmd == b"DATA":
                c.sendall(b"354 go\r\n")
                data = b""
                while True:
                    l = f.readline()
                    if not l or l == b".\r\n":
                        break
                    data += l
                fake.log.append((mail, rcpts, data))
                c.sendall(b"250 ok\r\n")
            elif cmd == b"QUIT":
                c.sendall(b"221 bye\r\n")
                return
            elif cmd == b"RSET":
                c.sendall(b"250 ok\r\n")
            else:
                c.sendall(b"502 no\r\n")
    return run
