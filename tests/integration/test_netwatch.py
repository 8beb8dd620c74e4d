"""loft-netwatch's verdict from real servers on loopback (netwatch_env.py):
dnsmasq for the reflection names, PTRs and a ZEN zone, a fake MX for the
port 25 probe, a NAT-PMP responder.  Each scenario of issue 11 ends with
the verdict, its evidence and what `loftctl route status` explains; the
daemon tests show the verdict written at start and flipped by an address
change."""
import time

import pytest

from loftenv import Loft
from netwatch_env import LoopNet


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
