"""Issue 11's scenarios end to end: loft-netwatch judges the connection
(dnsmasq answering the reflection names, PTRs and a test ZEN zone, a fake
MX for the port 25 probe, a NAT-PMP router), writes route.verdict, and a
real message submitted through loft-smtpd is delivered by loft-queue --
seen arriving at the remote MX (aiosmtpd on 127.0.0.2) or at the
smarthost (aiosmtpd with STARTTLS and AUTH) -- or held, with what
`loftctl route status` explains."""
import time

import pytest

from loftenv import Loft, free_port
from loft_queue_helpers import (Dns, Sink, USERS, make_ca, rows, set_setting, strip_trace,
                                submit, wait_rows)
from netwatch_env import LoopNet

MX_PORT = free_port()
SH_PORT = free_port()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The receiving side, shared: DNS for the queue's MX lookups, the
    remote MX, the smarthost and its CA."""
    tmp = tmp_path_factory.mktemp("netwatch-route")
    ca, ctx = make_ca(tmp, ["smarthost.test"])
    dns = Dns(tmp, mx={"example.net": [(10, "mx1.example.net")]},
              a={"mx1.example.net": "127.0.0.2", "smarthost.test": "127.0.0.1"})
    mx = Sink("127.0.0.2", MX_PORT)
    sh = Sink("127.0.0.1", SH_PORT, tls=ctx, require_tls=True, auth={"relayuser": "relaypw"})
    yield {"ca": ca, "dns": dns, "mx": mx, "sh": sh}
    mx.stop()
    sh.stop()
    dns.stop()


SMARTHOST = {"smarthost.host": "smarthost.test", "smarthost.port": str(SH_PORT),
             "smarthost.tls": "starttls", "smarthost.user": "relayuser",
             "smarthost.password": "relaypw"}


@pytest.fixture
def net(tmp_path):
    n = LoopNet(tmp_path)
    yield n
    n.close()


def start(tmp_path, world, net, smarthost=True, router=None, port25="banner", **more):
    conf = {"smtpd.greeting_delay_ms": "0", "dns_servers": world["dns"].servers,
            "queue.retry_min": "1", "queue.retry_max": "2", "queue.timeout": "10",
            "queue.connect_timeout": "5", "queue.scan_ms": "200",
            "queue.mx_port": str(MX_PORT), "queue.ca_file": world["ca"]}
    conf.update(net.conf(port25=net.port25(port25), router=router, **more))
    loft = Loft(tmp_path, enable=["smtpd", "queue", "netwatch"], conf=conf)
    loft.add_domain("example.org")
    for a, p in USERS.items():
        loft.add_user(a, p)
    if smarthost:
        for k, v in SMARTHOST.items():
            set_setting(loft, k, v)
    loft.start()
    return loft


def verdict(loft):
    c = __import__("sqlite3").connect("file:%s/loft.db?mode=ro" % loft.dir, uri=True)
    try:
        r = c.execute("SELECT value FROM settings WHERE key = 'route.verdict'").fetchone()
        return r[0] if r else None
    finally:
        c.close()


def wait_verdict(loft, want, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if verdict(loft) == want:
            return
        time.sleep(0.1)
    raise AssertionError("verdict %r, not %r:\n%s" % (verdict(loft), want, loft.log()[-3000:]))


def send_and_see(loft, world, where):
    """Submits one message; returns once it arrived at where ("mx" or
    "sh"), checking it did not arrive at the other."""
    mx, sh = world["mx"], world["sh"]
    n_mx, n_sh = len(mx.messages), len(sh.messages)
    to = "rcpt-%d@example.net" % int(time.time() * 1000)
    msg = submit(loft, [to])
    target = mx if where == "mx" else sh
    n = n_mx if where == "mx" else n_sh
    assert target.wait(n + 1, timeout=30), loft.log()[-3000:]
    got = [m for m in target.messages[n:] if to in m[1]]
    assert got and strip_trace(got[0][2]) == msg
    wait_rows(loft, lambda r: all(x[2] == "done" for x in r if x[1] == to))
    other = sh if where == "mx" else mx
    assert not any(to in m[1] for m in other.messages), "delivered twice"
    return to


def status(loft):
    return loft.ctl("route", "status").stdout


def test_1_clean_static_goes_direct(tmp_path, world, net):
    router = net.natpmp(wan="203.0.113.7")
    net.dns(public="203.0.113.7", ptr="mail.example.net")
    loft = start(tmp_path, world, net, router=router)
    try:
        wait_verdict(loft, "direct")
        send_and_see(loft, world, "mx")
        st = status(loft)
        assert "Verdict:  direct" in st and "Route:    direct" in st
        assert "route=direct" in loft.log()
    finally:
        loft.stop()


@pytest.mark.parametrize("case", [
    "2_pbl", "3_generic_ptr", "4_no_ptr", "5_port25_dropped", "6_cgnat"])
def test_relay_goes_through_the_smarthost(tmp_path, world, net, case):
    router, port25 = None, "banner"
    if case == "2_pbl":
        net.dns(public="203.0.113.7", zen="127.0.0.11")
        why = "PBL"
    elif case == "3_generic_ptr":
        net.dns(public="203.0.113.7", ptr="dsl-203-0-113-7.dyn.example.net")
        why = "generic reverse name"
    elif case == "4_no_ptr":
        net.dns(public="203.0.113.7", ptr=None)
        why = "no reverse name"
    elif case == "5_port25_dropped":
        net.dns(public="203.0.113.7")
        port25 = "drop"
        why = "port 25 blocked"
    else:
        net.dns(public="203.0.113.7")
        router = net.natpmp(wan="100.64.1.2")
        why = "carrier-grade NAT"
    loft = start(tmp_path, world, net, router=router, port25=port25)
    try:
        wait_verdict(loft, "relay")
        send_and_see(loft, world, "sh")
        st = status(loft)
        assert "Verdict:  relay" in st and "Route:    smarthost" in st, st
        assert why in st, st
    finally:
        loft.stop()


def test_7_refused_resolver_is_unknown_and_relays_when_a_smarthost_is_set(tmp_path, world, net):
    net.dns(public="203.0.113.7", zone_all="127.255.255.254")
    loft = start(tmp_path, world, net)
    try:
        wait_verdict(loft, "unknown")
        send_and_see(loft, world, "sh")
        st = status(loft)
        assert "Verdict:  unknown" in st and "smarthost (verdict unknown)" in st
        assert "refused" in st and "127.255.255" in st
    finally:
        loft.stop()


def test_7b_unknown_without_smarthost_goes_direct_with_a_warning(tmp_path, world, net):
    net.dns(public="203.0.113.7", zone_all="127.255.255.254")
    loft = start(tmp_path, world, net, smarthost=False)
    try:
        wait_verdict(loft, "unknown")
        send_and_see(loft, world, "mx")
        assert "direct, with a warning" in status(loft)
    finally:
        loft.stop()


def test_8_address_change_flips_the_next_message_to_the_smarthost(tmp_path, world, net):
    net.dns(public="203.0.113.7")
    loft = start(tmp_path, world, net, **{"netwatch.address_interval": "1"})
    try:
        wait_verdict(loft, "direct")
        send_and_see(loft, world, "mx")
        net.dns(public="198.51.100.23", zen="127.0.0.11")
        wait_verdict(loft, "relay")
        send_and_see(loft, world, "sh")
        st = status(loft)
        assert "direct -> relay" in st and "198.51.100.23" in st
    finally:
        loft.stop()


def test_10_relay_without_smarthost_holds_mail_and_says_what_to_do(tmp_path, world, net):
    net.dns(public="203.0.113.7", zen="127.0.0.10")
    loft = start(tmp_path, world, net, smarthost=False)
    try:
        wait_verdict(loft, "relay")
        n_mx, n_sh = len(world["mx"].messages), len(world["sh"].messages)
        to = "held-%d@example.net" % int(time.time() * 1000)
        submit(loft, [to])
        time.sleep(2)
        r = [x for x in rows(loft) if x[1] == to]
        assert r and r[0][2] not in ("done", "bounced"), r
        assert len(world["mx"].messages) == n_mx, "never thrown at the receiver"
        st = status(loft)
        assert "held in the queue" in st and "What to do: set a smarthost" in st
        assert "no smarthost is set: mail held" in loft.log()
        assert "outbound mail is held until you set one" in loft.ctl("events").stdout
        # the person sets a smarthost: the held message goes out through it
        for k, v in SMARTHOST.items():
            set_setting(loft, k, v)
        assert world["sh"].wait(n_sh + 1, timeout=30), loft.log()[-3000:]
        assert any(to in m[1] for m in world["sh"].messages[n_sh:])
        wait_rows(loft, lambda r: all(x[2] == "done" for x in r if x[1] == to))
    finally:
        loft.stop()


def test_9_gmail_refusal_of_a_direct_delivery_goes_through_the_smarthost(tmp_path, world, net):
    """verdict direct (netwatch), but the receiver refuses the address
    itself, in Gmail's words: loft-queue sends that message again through
    the smarthost at once; no bounce reaches the sender."""
    from loft_queue_helpers import inbox
    net.dns(public="203.0.113.7")
    loft = start(tmp_path, world, net)
    try:
        wait_verdict(loft, "direct")
        to = "picky-%d@example.net" % int(time.time() * 1000)
        world["mx"].handler.rcpt_codes[to] = (
            "550 5.7.1 [203.0.113.7] The IP you're using to send mail is not authorized to "
            "send email directly to our servers. Please use the SMTP relay at your service "
            "provider instead.")
        n_sh = len(world["sh"].messages)
        msg = submit(loft, [to])
        assert world["sh"].wait(n_sh + 1, timeout=30), loft.log()[-3000:]
        got = [m for m in world["sh"].messages[n_sh:] if to in m[1]]
        assert got and strip_trace(got[0][2]) == msg
        wait_rows(loft, lambda r: all(x[2] == "done" for x in r if x[1] == to))
        assert not any(to in m[1] for m in world["mx"].messages)
        assert inbox(loft, "a@example.org") == [], "no bounce to the sender"
        assert "sent again through the smarthost" in loft.log()
        # the refusal is evidence: status shows it, and the next check
        # (a reload checks at once) turns the verdict to relay
        end = time.time() + 10
        while time.time() < end and "Rejections: 1 for reputation" not in status(loft):
            time.sleep(0.2)
        assert "Rejections: 1 for reputation" in status(loft), status(loft)
        loft.proc.send_signal(__import__("signal").SIGHUP)
        wait_verdict(loft, "relay")
        st = status(loft)
        assert "rejections" in st and "a receiver refused direct mail" in st, st
        send_and_see(loft, world, "sh")
    finally:
        loft.stop()
