"""The box's mail host name (issue 12): the name the wizard saves
(mail.hostname) is what loft-smtpd greets and answers EHLO with and what
loft-queue says in EHLO to a remote MX -- at once after the wizard's step
(loft-admin sends "notify settings"), again after a reload (SIGHUP) when
the setting changed, and loft.conf's hostname still overrides it."""
import os
import re
import signal
import smtplib
import socket
import ssl
import time

import pytest

from loft_admin_helpers import Browser, admin_loft, wizard_to
from loft_queue_helpers import Dns, Sink, set_setting
from loftenv import free_port

PORT = free_port()


class EhloSink(Sink):
    """A remote MX that records the name each client gave in EHLO."""

    def __init__(self, host, port):
        super().__init__(host, port)
        self.names = []
        orig = self.handler.handle_EHLO
        names = self.names

        async def ehlo(server, session, envelope, hostname, responses):
            names.append(hostname)
            return await orig(server, session, envelope, hostname, responses)
        self.handler.handle_EHLO = ehlo


def send(loft, to):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", loft.port("submission"), timeout=30) as s:
        s.starttls(context=ctx)
        s.login("a@example.org", "secret-a")
        s.sendmail("a@example.org", [to], ("From: a@example.org\r\nTo: %s\r\n"
                                          "Subject: hi\r\n\r\nhi\r\n" % to).encode())


def banner(loft):
    with smtplib.SMTP(timeout=10) as s:
        code, msg = s.connect("127.0.0.1", loft.port("mx"))
        assert code == 220
        ehlo = s.ehlo("client.test")[1].decode().split("\n")[0]
        return msg.decode().split()[0], ehlo.split()[0]


def wait_banner(loft, name, timeout=10):
    end = time.time() + timeout
    got = None
    while time.time() < end:
        got = banner(loft)
        if got == (name, name):
            return
        time.sleep(0.1)
    raise AssertionError("banner/EHLO %r, wanted %s\n%s" % (got, name, loft.log()[-2000:]))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mail-hostname")
    dns = Dns(tmp, mx={"example.net": [(10, "mx1.example.net")]},
              a={"mx1.example.net": "127.0.0.2"})
    mx = EhloSink("127.0.0.2", PORT)
    loft = admin_loft(tmp, enable=("admin", "smtpd", "queue"),
                      conf={"smtpd.greeting_delay_ms": "0", "dns_servers": dns.servers,
                            "queue.mx_port": str(PORT), "queue.retry_min": "1",
                            "queue.scan_ms": "200"})
    # no hostname in loft.conf: the setting decides
    conf = os.path.join(loft.dir, "loft.conf")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("hostname = loft.test\n", ""))
    loft.add_domain("example.org")
    loft.add_user("a@example.org", "secret-a")
    set_setting(loft, "route.mode", "direct")
    loft.start()
    yield loft, mx, conf
    loft.stop()
    mx.stop()
    dns.stop()


def test_wizard_name_used_at_once(env):
    loft, mx, _ = env
    assert banner(loft) == (socket.gethostname(), socket.gethostname())
    b = Browser(loft)
    wizard_to(b, 2)
    r = b.post("/setup", {"step": "2", "domain": "example.org", "hostname": "MX.example.org"})
    assert r.status == 303, b.body[-1500:]
    # loft-smtpd heard "notify settings": no restart
    wait_banner(loft, "mx.example.org")
    assert "event=hostname name=mx.example.org from=setting" in loft.log()
    # loft-queue says it in EHLO to the remote MX
    send(loft, "x@example.net")
    assert mx.wait(1), loft.log()[-3000:]
    assert mx.names[-1] == "mx.example.org", mx.names
    # the Received header loft-smtpd wrote names it too
    assert re.search(rb"by mx\.example\.org", mx.messages[-1][2]), mx.messages[-1][2][:500]


def test_reload_and_config_override(env):
    loft, mx, conf = env
    # a changed setting is read again on reload (SIGHUP to loftd)
    set_setting(loft, "mail.hostname", "other.example.org")
    loft.proc.send_signal(signal.SIGHUP)
    wait_banner(loft, "other.example.org")
    # a value that is no host name is ignored, never sent to a client
    set_setting(loft, "mail.hostname", "bad name\r\n250 injected")
    loft.proc.send_signal(signal.SIGHUP)
    wait_banner(loft, socket.gethostname())
    assert "event=setting-ignored key=mail.hostname" in loft.log()
    # loft.conf's hostname overrides the setting
    set_setting(loft, "mail.hostname", "other.example.org")
    with open(conf, "a") as f:
        f.write("hostname = conf.example.org\n")
    loft.proc.send_signal(signal.SIGHUP)
    wait_banner(loft, "conf.example.org")
    n = len(mx.names)
    send(loft, "y@example.net")
    assert mx.wait(2), loft.log()[-3000:]
    assert mx.names[n:] and mx.names[-1] == "conf.example.org", mx.names
