"""Ports 80 and 443 forwarded while a certificate is obtained (issue 11):
loft-admin sets netwatch.acme_until and says "notify acme"; loft-netwatch
asks the router (the UPnP IGD and NAT-PMP responders of netwatch_env.py)
to forward 80 and 443 with the mail ports, answers "acme-ports", and
loft-admin only then starts uacme (here a stand-in that waits for the
test); when the request ends, or the window passes without a word, the
two forwards are deleted again (UPnP DeletePortMapping, NAT-PMP lifetime
0) and `loftctl route status` no longer lists them."""
import os
import sqlite3
import time

import pytest

from loft_admin_helpers import Browser, wizard_to
from loftenv import Loft
from netwatch_env import LoopNet

FAKE_UACME = """#!/bin/sh
# a stand-in for uacme: records its phase, and in "issue" waits for the
# test's release file, then fails as a CA refusal would
dir=%(dir)s
case " $* " in
*" new "*) echo new >> "$dir/calls"; exit 0 ;;
esac
echo issue >> "$dir/calls"
i=0
while [ ! -e "$dir/release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
exit 2
"""


@pytest.fixture
def net(tmp_path):
    n = LoopNet(tmp_path)
    yield n
    n.close()


def eventually(fn, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.1)
    return fn()


def status(loft):
    return loft.ctl("route", "status").stdout


def setting(loft, key):
    with sqlite3.connect("file:%s/loft.db?mode=ro" % loft.dir, uri=True) as db:
        row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None


def set_setting(loft, key, value):
    with sqlite3.connect(os.path.join(loft.dir, "loft.db"), timeout=10) as db:
        db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))


def test_certificate_request_forwards_80_443_first_and_removes_them(tmp_path, net):
    igd = net.igd()
    net.dns(public="203.0.113.7")
    conf = net.conf(upnp=igd)
    conf["admin.require_https"] = "no"
    loft = Loft(tmp_path, enable=["admin", "netwatch"], conf=conf)
    # the stand-in lives where the daemons' user can run it and write
    work = os.path.join(os.path.dirname(loft.dir), "acme-fake")
    os.makedirs(work)
    os.chmod(work, 0o777)
    fake = os.path.join(work, "uacme")
    with open(fake, "w") as f:
        f.write(FAKE_UACME % {"dir": work})
    os.chmod(fake, 0o755)
    with open(os.path.join(loft.dir, "loft.conf"), "a") as f:
        f.write("acme.command = %s\nacme.url = https://127.0.0.1:9/dir\n" % fake)
    loft.start()
    try:
        # the regular round first: the mail ports, not 80/443
        assert loft.wait_log("event=port-mapping port=993", timeout=30), loft.log()[-3000:]
        assert 80 not in igd.mapped and 443 not in igd.mapped
        b = Browser(loft)
        wizard_to(b, 7)
        r = b.post("/setup", {"step": "7", "action": "acme"})
        assert r.status == 200 and "Certificate requested" in b.body, b.body[-1500:]
        calls = os.path.join(work, "calls")
        assert eventually(lambda: os.path.exists(calls) and "issue" in open(calls).read()), \
            loft.log()[-3000:]
        # forwarded before uacme ever ran, and loft-admin waited for it
        assert 80 in igd.mapped and 443 in igd.mapped, igd.mapped
        assert igd.mapped[80][1] == 80 and igd.mapped[443][2] == "TCP"
        log = loft.log()
        assert "event=acme-ports ready=netwatch" in log, log[-3000:]
        adds = [p for a, p in igd.log if a == "AddPortMapping"]
        assert "80" in adds and "443" in adds
        assert log.index("event=port-mapping port=443") < log.index("event=acme-start"), \
            log[-3000:]
        assert int(setting(loft, "netwatch.acme_until")) > time.time()
        st = status(loft)
        assert "tcp/80    upnp    mapped" in st and "tcp/443   upnp    mapped" in st, st
        assert "Certificate: being obtained; ports 80 and 443 forwarded until" in st, st
        # the request ends (the CA refused): both forwards go, the mail
        # ports stay
        open(os.path.join(work, "release"), "w").close()
        assert eventually(lambda: sorted(igd.deleted) == [80, 443]), (igd.log, loft.log()[-3000:])
        assert sorted(igd.mapped) == [25, 465, 587, 993]
        assert setting(loft, "netwatch.acme_until") is None
        assert eventually(lambda: "tcp/80 " not in status(loft))
        st = status(loft)
        assert "tcp/443" not in st and "tcp/993   upnp    mapped" in st, st
        assert "Certificate: being obtained" not in st, st
        assert eventually(lambda: "TCP 80, 443 no longer forwarded" in
                          loft.ctl("events").stdout)
        assert setting(loft, "acme.status").startswith("failed")
    finally:
        loft.stop()
    assert "event=child-died" not in loft.log()


def test_window_passes_without_a_word_natpmp(tmp_path, net):
    """loft-admin gone mid-request: the window's end alone removes them."""
    router = net.natpmp(wan="203.0.113.7")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"], conf=net.conf(router=router))
    set_setting(loft, "netwatch.acme_until", str(int(time.time()) + 6))
    loft.start()
    try:
        assert eventually(lambda: 80 in router.mapped and 443 in router.mapped), \
            loft.log()[-3000:]
        assert eventually(lambda: sorted(router.deleted) == [80, 443], timeout=40), \
            (router.deleted, loft.log()[-3000:])
        assert 80 not in router.mapped and 993 in router.mapped
        assert eventually(lambda: "tcp/80 " not in status(loft))
        assert "tcp/993   natpmp  mapped" in status(loft)
    finally:
        loft.stop()


def test_port_kept_by_the_router_and_a_listed_port_stays(tmp_path, net):
    """80 is one of netwatch.map_ports: it stays forwarded; the router
    refuses to delete 443: route status says to remove it by hand."""
    igd = net.igd(keep_ports=(443,))
    net.dns(public="203.0.113.7")
    conf = net.conf(upnp=igd)
    conf["netwatch.map_ports"] = "25,80"
    loft = Loft(tmp_path, enable=["netwatch"], conf=conf)
    set_setting(loft, "netwatch.acme_until", str(int(time.time()) + 6))
    loft.start()
    try:
        assert eventually(lambda: 443 in igd.mapped), loft.log()[-3000:]
        assert eventually(lambda: "DeletePortMapping" in [a for a, p in igd.log], timeout=40)
        assert eventually(lambda: "remove the forward of TCP 443 by hand" in status(loft))
        assert [p for a, p in igd.log if a == "DeletePortMapping"] == ["443"], igd.log
        assert 80 in igd.mapped and 25 in igd.mapped
        st = status(loft)
        assert "tcp/80    upnp    mapped" in st, st
    finally:
        loft.stop()


def test_bad_window_value_maps_nothing_more(tmp_path, net):
    igd = net.igd()
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"], conf=net.conf(upnp=igd))
    set_setting(loft, "netwatch.acme_until", "soon")
    loft.start()
    try:
        assert loft.wait_log("event=port-mapping port=993", timeout=30), loft.log()[-3000:]
        assert "event=config-error key=netwatch.acme_until" in loft.log()
        assert 80 not in igd.mapped and 443 not in igd.mapped
    finally:
        loft.stop()
