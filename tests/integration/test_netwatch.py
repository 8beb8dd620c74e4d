"""loft-netwatch's verdict from real servers on loopback (netwatch_env.py):
dnsmasq for the reflection names, PTRs and a ZEN zone, a fake MX for the
port 25 probe, a NAT-PMP responder.  Each scenario of issue 11 ends with
the verdict, its evidence and what `loftctl route status` explains; the
daemon tests show the verdict written at start and flipped by an address
change."""
import time

import pytest

from loftenv import Loft
from netwatch_env import Knot, LoopNet


@pytest.fixture
def net(tmp_path):
    n = LoopNet(tmp_path)
    yield n
    n.close()


def check(loft):
    """loftctl route check: its progress lines as {probe: (result, detail)}
    and the verdict line."""
    p = loft.ctl("route", "check")
    ev = {}
    for line in p.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and not line.startswith("Verdict:"):
            ev[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    verdict = [l for l in p.stdout.splitlines() if l.startswith("Verdict:")]
    assert verdict, p.stdout
    return verdict[0].split()[1], ev, p.stdout


def status(loft):
    return loft.ctl("route", "status").stdout


def setting(loft, key):
    import sqlite3
    db = sqlite3.connect("file:%s/loft.db?mode=ro" % loft.dir, uri=True)
    try:
        row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None
    finally:
        db.close()


# --- the scenarios, through loftctl route check ----------------------------

def test_clean_static_address_is_direct(tmp_path, net):
    mx = net.port25("banner")
    router = net.natpmp(wan="203.0.113.7")
    net.dns(public="203.0.113.7", ptr="mail.example.net")
    loft = Loft(tmp_path, conf=net.conf(port25=mx, router=router))
    verdict, ev, out = check(loft)
    assert verdict == "direct", out
    assert ev["address"][0] == "203.0.113.7"
    assert "2 of 2 methods agree" in ev["address"][1]
    assert ev["router"][0] == "203.0.113.7"
    assert ev["cgnat"][0] == "no"
    assert ev["ptr"][0] == "good"
    assert ev["zen.selftest"][0] == "ok"
    assert ev["zen"][0] == "clean"
    assert ev["port25"][0] == "open" and "220 mx.remote.test" in ev["port25"][1]
    assert mx.quits == 1, "the probe says QUIT"
    assert setting(loft, "route.verdict") == "direct"
    st = status(loft)
    assert "Verdict:  direct" in st and "Route:    direct" in st
    assert "History:" in st and "unknown -> direct" in st


def test_pbl_is_relay(tmp_path, net):
    mx = net.port25("banner")
    net.dns(public="203.0.113.7", zen="127.0.0.11")
    loft = Loft(tmp_path, conf=net.conf(port25=mx))
    verdict, ev, out = check(loft)
    assert verdict == "relay", out
    assert ev["zen"][0] == "pbl" and "127.0.0.11" in ev["zen"][1]
    assert "PBL" in ev["verdict"][1]
    assert setting(loft, "route.verdict") == "relay"


def test_listed_is_relay(tmp_path, net):
    net.dns(public="203.0.113.7", zen="127.0.0.4")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    verdict, ev, out = check(loft)
    assert verdict == "relay" and ev["zen"][0] == "listed", out


def test_generic_ptr_is_relay(tmp_path, net):
    net.dns(public="203.0.113.7", ptr="dsl-203-0-113-7.dyn.example.net")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    verdict, ev, out = check(loft)
    assert verdict == "relay", out
    assert ev["ptr"][0] == "generic"
    assert "dsl-203-0-113-7.dyn.example.net" in ev["ptr"][1]
    assert "generic reverse name" in ev["verdict"][1]


def test_missing_ptr_is_relay(tmp_path, net):
    net.dns(public="203.0.113.7", ptr=None)
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    verdict, ev, out = check(loft)
    assert verdict == "relay", out
    assert ev["ptr"][0] == "missing"


def test_unconfirmed_ptr_is_relay(tmp_path, net):
    net.dns(public="203.0.113.7", ptr="mail.example.net", fwd="198.51.100.1")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    verdict, ev, out = check(loft)
    assert verdict == "relay" and ev["ptr"][0] == "unconfirmed", out


def test_port25_dropped_is_relay(tmp_path, net):
    mx = net.port25("drop")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=mx))
    verdict, ev, out = check(loft)
    assert verdict == "relay", out
    assert ev["port25"][0] == "blocked", out
    assert "port 25 blocked" in ev["verdict"][1]


def test_port25_refused_is_relay(tmp_path, net):
    mx = net.port25("refuse")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=mx))
    verdict, ev, out = check(loft)
    assert verdict == "relay" and ev["port25"][0] == "filtered", out


def test_cgnat_is_relay(tmp_path, net):
    router = net.natpmp(wan="100.64.12.34")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner"), router=router))
    verdict, ev, out = check(loft)
    assert verdict == "relay", out
    assert ev["router"][0] == "100.64.12.34"
    assert ev["cgnat"][0] == "yes" and "100.64.0.0/10" in ev["cgnat"][1]
    assert "carrier-grade NAT" in ev["verdict"][1]


def test_router_wan_differs_is_relay(tmp_path, net):
    router = net.natpmp(wan="198.51.100.77")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner"), router=router))
    verdict, ev, out = check(loft)
    assert verdict == "relay" and ev["cgnat"][0] == "yes", out
    assert "differs" in ev["cgnat"][1]


def test_resolver_refused_is_unknown_never_clean(tmp_path, net):
    net.dns(public="203.0.113.7", zone_all="127.255.255.254")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    verdict, ev, out = check(loft)
    assert verdict == "unknown", out
    assert ev["zen.selftest"][0] == "failed"
    assert ev["zen"][0] == "refused"
    assert "127.255.255" in ev["verdict"][1]
    st = status(loft)
    assert "Verdict:  unknown" in st
    assert "direct, with a warning" in st


def test_relay_without_smarthost_says_held(tmp_path, net):
    net.dns(public="203.0.113.7", zen="127.0.0.10")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    assert check(loft)[0] == "relay"
    st = status(loft)
    assert "held in the queue" in st
    assert "What to do: set a smarthost" in st


def test_reflection_disagreeing_is_unknown(tmp_path, net):
    net.dns(public="203.0.113.7", google="198.51.100.9")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    verdict, ev, out = check(loft)
    assert verdict == "unknown", out
    assert ev["address"][0] == "unknown" and "disagree" in ev["address"][1]


# --- bad input from every probed service -----------------------------------

def test_garbage_everywhere_is_unknown_not_a_crash(tmp_path, net):
    router = net.natpmp(mode="nonsense")
    net.dns(public="203.0.113.7", google="not an address \x01", zen="198.51.100.1")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("garbage"), router=router))
    verdict, ev, out = check(loft)
    assert verdict == "unknown", out
    assert ev["reflect.google"][0] == "garbage"
    assert ev["router"][0] == "no"  # "no answer": nonsense is no answer
    assert ev["port25"][0] == "garbage"
    assert ev["zen"][0] == "bogus"
    # only OpenDNS answered with an address: it stands alone
    assert ev["address"][0] == "203.0.113.7"


def test_nothing_answers_is_unknown(tmp_path, net):
    # dnsmasq is not even started: every lookup times out
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("refuse")))
    verdict, ev, out = check(loft)
    assert verdict == "relay" or verdict == "unknown", out
    assert ev["address"][0] == "unknown"
    assert ev["ptr"][0] == "unchecked"


def test_route_set(tmp_path, net):
    loft = Loft(tmp_path)
    assert "Policy:   auto" in status(loft)
    loft.ctl("route", "set", "smarthost")
    assert setting(loft, "route.mode") == "smarthost"
    st = status(loft)
    assert "Policy:   smarthost" in st and "none is set" in st
    loft.ctl("route", "set", "direct")
    assert "Route:    direct (policy)" in status(loft)
    p = loft.ctl("route", "set", "sideways", check=False)
    assert p.returncode == 2
    assert setting(loft, "route.mode") == "direct"
    p = loft.ctl("route", "bogus", check=False)
    assert p.returncode == 2 and "usage" in p.stderr


# --- the daemon ------------------------------------------------------------

def wait_verdict(loft, want, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if setting(loft, "route.verdict") == want:
            return True
        time.sleep(0.2)
    return False


def test_daemon_writes_verdict_and_follows_an_address_change(tmp_path, net):
    mx = net.port25("banner")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"],
                conf=net.conf(port25=mx, **{"netwatch.address_interval": "1"}))
    loft.start()
    try:
        assert wait_verdict(loft, "direct"), loft.log()[-3000:]
        assert mx.connections == 1, "port 25 probed once at start"
        # the address changes to one on the PBL: the cheap check sees it,
        # a full check follows at once and flips the verdict
        net.dns(public="198.51.100.23", ptr="mail.example.net", zen="127.0.0.11")
        assert wait_verdict(loft, "relay"), loft.log()[-3000:]
        assert loft.wait_log("event=address-changed old=203.0.113.7 new=198.51.100.23")
        st = status(loft)
        assert "address-change" in st and "198.51.100.23" in st
        assert "direct -> relay" in st
        assert mx.connections == 2, "port 25 probed again on the address change"
    finally:
        loft.stop()


# --- inbound on a dynamic address: RFC 2136 + TSIG to a real knot ----------

def events(loft):
    return loft.ctl("events").stdout


def eventually(fn, timeout=10):
    """fn() true within timeout: the log line comes a moment before the
    store's event."""
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.1)
    return fn()


def test_address_change_updates_dns_record(tmp_path, net):
    knot = Knot(tmp_path)
    try:
        net.dns(public="203.0.113.7")
        conf = net.conf(port25=net.port25("banner"), **{"netwatch.address_interval": "1"})
        conf.update(knot.conf())
        loft = Loft(tmp_path, enable=["netwatch"], conf=conf)
        loft.start()
        try:
            # at start the record is set to the public address
            end = time.time() + 20
            while time.time() < end and knot.query("box") != ["203.0.113.7"]:
                time.sleep(0.2)
            assert knot.query("box") == ["203.0.113.7"], loft.log()[-3000:]
            assert loft.wait_log("event=ddns ok=yes name=box.home.example address=203.0.113.7")
            # the address changes: the new A record is served
            net.dns(public="198.51.100.23")
            end = time.time() + 20
            while time.time() < end and knot.query("box") != ["198.51.100.23"]:
                time.sleep(0.2)
            assert knot.query("box") == ["198.51.100.23"], loft.log()[-3000:]
            assert eventually(lambda: "ddns: box.home.example A 198.51.100.23" in events(loft))
            assert "Dynamic DNS: box.home.example A 198.51.100.23" in status(loft)
        finally:
            loft.stop()
    finally:
        knot.close()


def test_ddns_wrong_key_is_refused_and_reported(tmp_path, net):
    import base64
    knot = Knot(tmp_path)
    try:
        net.dns(public="203.0.113.7")
        conf = net.conf(port25=net.port25("banner"))
        conf.update(knot.conf(secret=base64.b64encode(b"x" * 32).decode()))
        loft = Loft(tmp_path, enable=["netwatch"], conf=conf)
        loft.start()
        try:
            assert loft.wait_log("event=ddns ok=no", timeout=20), loft.log()[-3000:]
            assert knot.query("box") == ["192.0.2.1"], "the record is untouched"
            assert eventually(lambda: "FAILED" in events(loft))
        finally:
            loft.stop()
    finally:
        knot.close()


# --- inbound reachability: port mappings ----------------------------------

def mappings(loft):
    st = status(loft)
    return st[st.index("Port mappings:"):] if "Port mappings:" in st else ""


def wait_mappings(loft, n, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        m = mappings(loft)
        if m.count("\n  tcp/") >= n or m.count("\n  tcp/") + (1 if m else 0) > n:
            return m
        time.sleep(0.2)
    return mappings(loft)


def test_upnp_maps_ports_and_refusals_say_what_to_do(tmp_path, net):
    igd = net.igd(refuse_ports=(25,))
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"],
                conf=net.conf(port25=net.port25("banner"), upnp=igd))
    loft.start()
    try:
        assert loft.wait_log("event=port-mapping port=993", timeout=20), loft.log()[-3000:]
        assert sorted(igd.mapped) == [465, 587, 993]
        assert igd.mapped[587][0] == "127.0.0.1" and igd.mapped[587][1] == 587
        assert igd.mapped[587][2] == "TCP" and igd.mapped[587][3] == "3600"
        m = mappings(loft)
        assert "tcp/587   upnp    mapped" in m, m
        assert "tcp/25    upnp    refused" in m, m
        assert "forward TCP 25 to 127.0.0.1 by hand" in m
        assert eventually(lambda: "did not forward TCP 25" in events(loft))
    finally:
        loft.stop()


def test_natpmp_maps_ports_when_there_is_no_upnp(tmp_path, net):
    router = net.natpmp(wan="203.0.113.7", refuse_ports=(25, 465))
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"],
                conf=net.conf(port25=net.port25("banner"), router=router))
    loft.start()
    try:
        assert loft.wait_log("event=port-mapping port=993", timeout=20), loft.log()[-3000:]
        assert sorted(router.mapped) == [587, 993]
        m = mappings(loft)
        assert "tcp/993   natpmp  mapped" in m, m
        assert "tcp/465   natpmp  refused" in m and "forward TCP 465" in m, m
    finally:
        loft.stop()


def test_no_router_answers_gives_instructions(tmp_path, net):
    # an IGD address where nothing listens, no NAT-PMP
    import socket as s
    with s.socket() as x:
        x.bind(("127.0.0.1", 0))
        dead = x.getsockname()[1]
    net.dns(public="203.0.113.7")
    conf = net.conf(port25=net.port25("banner"))
    conf["netwatch.upnp"] = "http://127.0.0.1:%d/rootDesc.xml" % dead
    loft = Loft(tmp_path, enable=["netwatch"], conf=conf)
    loft.start()
    try:
        assert loft.wait_log("event=port-mapping port=993", timeout=30), loft.log()[-3000:]
        m = mappings(loft)
        assert "tcp/25    none    refused" in m, m
        assert "no router answered" in m and "by hand" in m
    finally:
        loft.stop()


# --- rejections loft-queue records count as evidence -----------------------

def test_reputation_rejection_is_evidence_for_relay(tmp_path, net):
    import sqlite3
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    assert check(loft)[0] == "direct"
    # what loft-queue's store_nw_rejection_add writes after Gmail's refusal
    db = sqlite3.connect("%s/loft.db" % loft.dir)
    with db:
        db.execute("INSERT INTO netwatch_rejections(time, host, kind, reply)"
                   " VALUES(strftime('%s','now'), 'gmail-smtp-in.l.google.com', 'reputation',"
                   " '550-5.7.1 not authorized to send email directly to our servers')")
        # an authentication failure is the admin's to fix, not evidence
        db.execute("INSERT INTO netwatch_rejections(time, host, kind, reply)"
                   " VALUES(strftime('%s','now'), 'mx.example.com', 'authentication',"
                   " '550 5.7.26 unauthenticated')")
    db.close()
    verdict, ev, out = check(loft)
    assert verdict == "relay", out
    assert ev["rejections"][0] == "reputation"
    assert "gmail-smtp-in.l.google.com" in ev["rejections"][1]
    assert "reputation" in ev["verdict"][1]
    assert "Rejections: 1 for reputation" in status(loft)
    # a week later it no longer counts
    db = sqlite3.connect("%s/loft.db" % loft.dir)
    with db:
        db.execute("UPDATE netwatch_rejections SET time = time - 8 * 86400")
    db.close()
    assert check(loft)[0] == "direct"


# --- three reflection methods ----------------------------------------------

def test_three_methods_agree_through_chaos_txt(tmp_path, net):
    cf = net.chaos(answer="203.0.113.7")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner"), chaos=cf))
    verdict, ev, out = check(loft)
    assert verdict == "direct", out
    assert ev["reflect.cloudflare"][0] == "203.0.113.7"
    assert "CH TXT" in ev["reflect.cloudflare"][1]
    assert "3 of 3 methods agree" in ev["address"][1]
    assert cf.queries >= 1


def test_two_of_three_outvote_a_lying_method(tmp_path, net):
    cf = net.chaos(answer="198.51.100.66")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner"), chaos=cf))
    verdict, ev, out = check(loft)
    assert ev["address"][0] == "203.0.113.7", out
    assert "2 of 3 methods agree" in ev["address"][1]
    assert verdict == "direct", out


def test_chaos_garbage_is_no_address(tmp_path, net):
    cf = net.chaos(answer="\x00\x01 not an address")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner"), chaos=cf))
    verdict, ev, out = check(loft)
    assert ev["reflect.cloudflare"][0] == "garbage", out
    assert ev["address"][0] == "203.0.113.7"


# --- IPv6 -------------------------------------------------------------------

def test_ipv6_address_in_pbl_is_relay(tmp_path, net):
    net.dns(public="203.0.113.7", public6="2001:db8::7", zen6="127.0.0.11")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    verdict, ev, out = check(loft)
    assert ev["address6"][0] == "2001:db8::7", out
    assert ev["zen6"][0] == "pbl" and "2001:db8::7" in ev["zen6"][1], out
    assert verdict == "relay" and "IPv6 address on the Spamhaus PBL" in ev["verdict"][1]


def test_ipv6_address_clean_stays_direct(tmp_path, net):
    net.dns(public="203.0.113.7", public6="2001:db8::7")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    verdict, ev, out = check(loft)
    assert ev["zen6"][0] == "clean", out
    assert verdict == "direct", out


def test_a_resolver_failing_the_self_test_is_not_believed(tmp_path, net):
    # 2.0.0.127 gives NXDOMAIN: the resolver does not reach Spamhaus
    # (or filters it); its "clean" means nothing, so does its "listed"
    net.dns(public="203.0.113.7", selftest=None)
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner")))
    verdict, ev, out = check(loft)
    assert ev["zen.selftest"][0] == "failed", out
    assert ev["zen"][0] == "unchecked" and "not believed" in ev["zen"][1], out
    assert verdict == "unknown", out
    net.dns(public="203.0.113.7", selftest=None, zen="127.0.0.11")
    verdict, ev, out = check(loft)
    assert ev["zen"][0] == "unchecked" and verdict == "unknown", out


def check_with_broken_dns(tmp_path, net, mode, keys):
    """A check whose servers named by keys are a BadDns of mode."""
    from netwatch_env import BadDns
    bad = BadDns(mode)
    net.servers.append(bad)
    net.dns(public="203.0.113.7")
    conf = net.conf(port25=net.port25("banner"))
    for k in keys:
        conf["netwatch.%s" % k] = bad.server
    conf["netwatch.dns_timeout_ms"] = "300"
    verdict, ev, out = check(Loft(tmp_path, conf=conf))
    assert bad.queries >= 2, out
    return verdict, ev, out


@pytest.mark.parametrize("mode", ["truncated", "short", "overrun", "loop"])
def test_broken_dns_answers_are_no_answer(tmp_path, net, mode):
    # both reflection methods get the broken server
    verdict, ev, out = check_with_broken_dns(tmp_path, net, mode,
                                             ["opendns_servers", "google_servers"])
    assert ev["reflect.opendns"][0] == "no" and ev["reflect.google"][0] == "no", out
    assert ev["address"][0] == "unknown"
    assert verdict == "unknown", out


@pytest.mark.parametrize("mode", ["truncated", "overrun", "loop"])
def test_broken_resolver_answers_leave_ptr_and_lists_unchecked(tmp_path, net, mode):
    verdict, ev, out = check_with_broken_dns(tmp_path, net, mode, ["resolver"])
    assert ev["address"][0] == "203.0.113.7", out
    assert ev["ptr"][0] == "unchecked", out
    assert ev["zen.selftest"][0] == "failed" and ev["zen"][0] == "unchecked", out
    assert verdict == "unknown", out


def test_cgnat_seen_through_upnp_when_there_is_no_natpmp(tmp_path, net):
    igd = net.igd(wan="100.64.5.6")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner"), upnp=igd))
    verdict, ev, out = check(loft)
    assert ev["router.upnp"][0] == "100.64.5.6", out
    assert ev["cgnat"][0] == "yes" and verdict == "relay", out


def test_upnp_wan_matching_is_no_cgnat_and_nonsense_is_no_answer(tmp_path, net):
    igd = net.igd(wan="203.0.113.7")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, conf=net.conf(port25=net.port25("banner"), upnp=igd))
    verdict, ev, out = check(loft)
    assert ev["cgnat"][0] == "no" and "is the public address" in ev["cgnat"][1], out
    assert verdict == "direct", out
    igd.wan = "not.an.address"
    verdict, ev, out = check(loft)
    assert ev["router.upnp"][0] == "no" and "nonsense" in ev["router.upnp"][1], out
    assert verdict == "direct", out


# --- dyndns2 over HTTPS ----------------------------------------------------

def dyndns2_setup(tmp_path, net, **kw):
    from loft_queue_helpers import make_ca
    from netwatch_env import DynDns2
    ca, ctx = make_ca(tmp_path, ["dyndns.example.net"])
    dd = DynDns2(ctx, **kw)
    net.servers.append(dd)
    conf = {"netwatch.dyndns2_url": "https://dyndns.example.net:%d/nic/update" % dd.port,
            "netwatch.dyndns2_hostname": "me.dyn.example",
            "netwatch.dyndns2_user": "loftuser", "netwatch.dyndns2_password": "loftpw",
            "netwatch.dyndns2_ca": ca}
    return dd, conf


def test_dyndns2_follows_the_address_over_https(tmp_path, net):
    dd, dconf = dyndns2_setup(tmp_path, net)
    extra = ["--address=/dyndns.example.net/127.0.0.1"]
    net.dns(public="203.0.113.7", extra=extra)
    conf = net.conf(port25=net.port25("banner"), **{"netwatch.address_interval": "1"})
    conf.update(dconf)
    loft = Loft(tmp_path, enable=["netwatch"], conf=conf)
    loft.start()
    try:
        assert loft.wait_log("event=ddns ok=yes name=me.dyn.example address=203.0.113.7",
                             timeout=20), loft.log()[-3000:]
        assert dd.updates == [("me.dyn.example", "203.0.113.7")]
        net.dns(public="198.51.100.23", extra=extra)
        assert loft.wait_log("event=ddns ok=yes name=me.dyn.example address=198.51.100.23",
                             timeout=20), loft.log()[-3000:]
        assert dd.updates[-1] == ("me.dyn.example", "198.51.100.23")
        assert "loftpw" not in loft.log(), "the password is never logged"
        assert eventually(lambda: "Dynamic DNS: me.dyn.example A 198.51.100.23" in status(loft))
    finally:
        loft.stop()


@pytest.mark.parametrize("case", ["badauth", "nohost", "garbage", "badcert"])
def test_dyndns2_refusals_are_reported(tmp_path, net, case):
    dd, dconf = dyndns2_setup(tmp_path, net,
                              answer={"nohost": "nohost", "garbage": "<html>\x01oops"}.get(case))
    if case == "badauth":
        dconf["netwatch.dyndns2_password"] = "wrong"
    if case == "badcert":
        dconf["netwatch.dyndns2_ca"] = "/etc/ssl/certs/ca-certificates.crt"
    net.dns(public="203.0.113.7", extra=["--address=/dyndns.example.net/127.0.0.1"])
    conf = net.conf(port25=net.port25("banner"))
    conf.update(dconf)
    loft = Loft(tmp_path, enable=["netwatch"], conf=conf)
    loft.start()
    try:
        assert loft.wait_log("event=ddns ok=no", timeout=20), loft.log()[-3000:]
        log = loft.log()
        want = {"badauth": "badauth", "nohost": "no such host name", "garbage": "unexpected answer",
                "badcert": "connection closed"}[case]
        line = [l for l in log.splitlines() if "event=ddns ok=no" in l][0]
        assert want in line, line
        assert dd.updates == []
        assert eventually(lambda: "FAILED" in events(loft))
    finally:
        loft.stop()


def test_sighup_checks_at_once(tmp_path, net):
    import signal as sig
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"], conf=net.conf(port25=net.port25("banner")))
    loft.start()
    try:
        assert wait_verdict(loft, "direct"), loft.log()[-3000:]
        # the same address lands on the PBL: only the next check sees it,
        # and a reload (SIGHUP, as systemctl reload sends) is one now
        net.dns(public="203.0.113.7", zen="127.0.0.11")
        loft.proc.send_signal(sig.SIGHUP)
        assert wait_verdict(loft, "relay"), loft.log()[-3000:]
        assert "(reload)" in status(loft)
    finally:
        loft.stop()
