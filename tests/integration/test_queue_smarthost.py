"""loft-queue through a smarthost that demands STARTTLS and AUTH (aiosmtpd
with a certificate from a test CA, found through dnsmasq): the
certificate is verified against the CA, the password goes only over TLS,
a wrong password is a clear temporary error (retried, never bounced), and
the route settings pick the smarthost or direct per the contract, and
an address of the smarthost that does not answer makes loft-queue try
its next address."""
import time

import pytest

from loftenv import free_port
from loft_queue_helpers import (Dns, Sink, assert_clean, db, make_ca, rows, set_setting,
                                start_loft, strip_trace, submit, wait_rows)


BIG = []


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue-smarthost")
    port = free_port()
    ca, ctx = make_ca(tmp, ["smarthost.test"])
    # two addresses, the first with nobody listening: the next one is tried
    dns = Dns(tmp, a={"smarthost.test": ["127.0.0.9", "127.0.0.1"],
                      "mx.bigmail.test": "127.0.0.2"},
              mx={"bigmail.test": [(10, "mx.bigmail.test")]})
    big = Sink("127.0.0.2", port)
    big.handler.rcpt_codes["home@bigmail.test"] = (
        "550 5.7.1 [192.0.2.1] The IP you're using to send mail is not authorized to "
        "send email directly to our servers. Please use the SMTP relay at your service "
        "provider instead.")
    BIG.append(big)
    sh = Sink("127.0.0.1", port, tls=ctx, require_tls=True, auth={"relayuser": "relaypw"})
    loft = start_loft(tmp, dns, conf={"queue.ca_file": ca, "queue.mx_port": str(port)},
                      settings={"route.mode": "smarthost", "smarthost.host": "smarthost.test",
                                "smarthost.port": str(port), "smarthost.tls": "starttls",
                                "smarthost.user": "relayuser",
                                "smarthost.password": "relaypw"})
    yield loft, sh
    loft.stop()
    sh.stop()
    big.stop()
    dns.stop()
    assert_clean(loft)


def test_through_smarthost_with_tls_and_auth(env):
    loft, sh = env
    n = len(sh.messages)
    msg = submit(loft, ["p@remote.example", "q@other.example"])
    assert sh.wait(n + 1), loft.log()[-3000:]
    frm, rcpts, data, _ = sh.messages[n]
    assert sorted(rcpts) == ["p@remote.example", "q@other.example"]
    assert strip_trace(data) == msg
    wait_rows(loft, lambda r: all(x[2] == "done" for x in r))
    log = loft.log()
    assert "route=smarthost mx=smarthost.test addr=127.0.0.1 tls=TLSv1.2 verified=1" in log
    assert "relaypw" not in log


def test_wrong_password_retried_not_bounced(env):
    loft, sh = env
    set_setting(loft, "smarthost.password", "wrong")
    try:
        n = len(sh.messages)
        submit(loft, ["r@remote.example"])
        r = wait_rows(loft, lambda r: any(x[1] == "r@remote.example" and x[3] >= 1 for x in r))
        row = [x for x in r if x[1] == "r@remote.example"][0]
        assert row[2] == "deferred" and "authentication failed" in row[4], row
    finally:
        set_setting(loft, "smarthost.password", "relaypw")
    assert sh.wait(n + 1, timeout=40), loft.log()[-3000:]
    wait_rows(loft, lambda r: all(x[2] == "done" for x in r))


def test_route_direct_bypasses_smarthost(env):
    """route.mode=direct: the smarthost gets nothing (the recipient's
    domain does not resolve here, so the row waits with a DNS error)."""
    loft, sh = env
    set_setting(loft, "route.mode", "direct")
    try:
        n = len(sh.messages)
        submit(loft, ["d@direct.example"])
        r = wait_rows(loft, lambda r: any(x[1] == "d@direct.example" and x[3] >= 1 for x in r))
        assert len(sh.messages) == n
    finally:
        set_setting(loft, "route.mode", "smarthost")
    # back to the smarthost: the waiting row goes out there
    assert sh.wait(n + 1, timeout=40), loft.log()[-3000:]


def test_auto_relay_without_smarthost_holds(env):
    loft, sh = env
    set_setting(loft, "route.mode", "auto")
    set_setting(loft, "route.verdict", "relay")
    set_setting(loft, "smarthost.host", None)
    try:
        n = len(sh.messages)
        submit(loft, ["h@remote.example"])
        assert loft.wait_log("verdict=relay and no smarthost is set: mail held", 10)
        time.sleep(1.5)
        row = [x for x in rows(loft) if x[1] == "h@remote.example"][0]
        assert row[2] == "queued" and row[3] == 0, row
    finally:
        set_setting(loft, "smarthost.host", "smarthost.test")
    # relay verdict with a smarthost: it goes there
    assert sh.wait(n + 1, timeout=40), loft.log()[-3000:]
    set_setting(loft, "route.mode", "smarthost")


def test_reputation_refusal_goes_through_the_smarthost(env):
    """Direct route; the MX refuses the sending address (Gmail's words):
    the message goes again through the smarthost instead of bouncing."""
    loft, sh = env
    set_setting(loft, "route.mode", "direct")
    try:
        n = len(sh.messages)
        submit(loft, ["home@bigmail.test"])
        assert sh.wait(n + 1, timeout=40), loft.log()[-3000:]
        assert sh.messages[n][1] == ["home@bigmail.test"]
        r = wait_rows(loft, lambda r: any(x[1] == "home@bigmail.test" and x[2] == "done"
                                          for x in r))
        assert BIG[0].messages == []
        assert "sent again through the smarthost" in loft.log()
        assert "through the smarthost" in loft.ctl("events").stdout
        # recorded as evidence for loft-netwatch
        c = db(loft)
        rej = c.execute("SELECT host, kind, reply FROM netwatch_rejections").fetchall()
        c.close()
        assert rej and rej[0][0] == "mx.bigmail.test" and rej[0][1] == "reputation", rej
        assert "not authorized to send email directly" in rej[0][2]
    finally:
        set_setting(loft, "route.mode", "smarthost")


def test_loftctl_smarthost_test_and_show(env):
    """connect, TLS, AUTH, QUIT -- no message; a wrong password is said
    clearly; show never prints the password."""
    loft, sh = env
    n = len(sh.messages)
    p = loft.ctl("smarthost", "test", check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok: 127.0.0.1 answered, TLS TLSv1.2 (certificate verified), AUTH accepted" in p.stdout
    set_setting(loft, "smarthost.password", "nope")
    try:
        p = loft.ctl("smarthost", "test", check=False)
        assert p.returncode == 1 and "authentication failed: 535" in p.stdout, p.stdout
    finally:
        set_setting(loft, "smarthost.password", "relaypw")
    assert len(sh.messages) == n
    out = loft.ctl("smarthost", "show").stdout
    assert "smarthost.password   ********" in out and "relaypw" not in out
    assert "sendgrid" in loft.ctl("smarthost", "presets").stdout


def test_zz_the_next_address_was_tried(env):
    """Over this module's deliveries the dead address came first at least
    once (the resolver's order varies), and mail still went out."""
    loft, sh = env
    log = loft.log()
    assert "event=connect-failed dest=[smarthost] mx=smarthost.test addr=127.0.0.9" in log
    assert all(x[2] in ("done", "bounced") for x in rows(loft))
