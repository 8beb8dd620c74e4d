"""PCP (RFC 6887) MAP as the router method before NAT-PMP (issue 11):
a loopback responder on 127.R.R.R:5351 (netwatch_env.NatPmp with pcp=True)
serves PCP MAP; a NAT-PMP-only router answers "unsupported version" and
loft-netwatch falls back; PCP nonsense is skipped, not believed.  The
mappings belong to the nonce loft-netwatch keeps in the store, so a
restarted one renews and deletes them."""
import sqlite3
import time

import pytest

from loftenv import Loft
from netwatch_env import LoopNet


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


def test_pcp_maps_the_mail_ports(tmp_path, net):
    router = net.natpmp(wan="203.0.113.7", pcp=True, refuse_ports=(25,))
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"], conf=net.conf(router=router))
    loft.start()
    try:
        assert loft.wait_log("event=port-mapping port=993", timeout=30), loft.log()[-3000:]
        assert sorted(router.mapped) == [465, 587, 993], router.mapped
        assert router.mapped[587] == 3600
        m = status(loft)
        assert "tcp/993   pcp     mapped" in m, m
        assert "tcp/25    pcp     refused" in m and "PCP NOT_AUTHORIZED" in m, m
        assert "forward TCP 25 to 127.0.0.1 by hand" in m
        # the request named the box as ::ffff:127.0.0.1 and carried the
        # nonce kept in the store
        client, nonce, port, life = router.pcp_requests[0]
        assert client == bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1])
        assert nonce.hex() == setting(loft, "netwatch.pcp_nonce")
        assert len(set(r[1] for r in router.pcp_requests)) == 1
    finally:
        loft.stop()
    # a restart keeps the nonce: the router lets it renew its mappings
    n = len(router.pcp_requests)
    loft.start()
    try:
        assert eventually(lambda: len(router.pcp_requests) >= n + 4), loft.log()[-3000:]
        assert loft.wait_log("event=port-mapping port=993", count=2, timeout=30)
        m = status(loft)
        assert "tcp/993   pcp     mapped" in m and "tcp/587   pcp     mapped" in m, m
        assert "NOT_AUTHORIZED" not in m.split("tcp/25", 1)[1].split("\n", 1)[1], m
    finally:
        loft.stop()


def test_natpmp_only_router_falls_back(tmp_path, net):
    router = net.natpmp(wan="203.0.113.7")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"], conf=net.conf(router=router))
    loft.start()
    try:
        assert loft.wait_log("event=port-mapping port=993", timeout=30), loft.log()[-3000:]
        assert sorted(router.mapped) == [25, 465, 587, 993]
        assert "tcp/993   natpmp  mapped" in status(loft)
    finally:
        loft.stop()


def test_pcp_nonsense_is_skipped_for_natpmp(tmp_path, net):
    router = net.natpmp(wan="203.0.113.7", pcp="nonsense")
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"], conf=net.conf(router=router))
    loft.start()
    try:
        assert loft.wait_log("event=port-mapping port=993", timeout=40), loft.log()[-3000:]
        assert "event=pcp-garbage" in loft.log()
        assert "tcp/993   natpmp  mapped" in status(loft)
        assert loft.children().get("loft-netwatch")
    finally:
        loft.stop()


def test_pcp_off_goes_straight_to_natpmp(tmp_path, net):
    router = net.natpmp(wan="203.0.113.7", pcp=True)
    net.dns(public="203.0.113.7")
    conf = net.conf(router=router)
    conf["netwatch.pcp"] = "0"
    loft = Loft(tmp_path, enable=["netwatch"], conf=conf)
    loft.start()
    try:
        assert loft.wait_log("event=port-mapping port=993", timeout=30), loft.log()[-3000:]
        assert router.pcp_requests == []
        assert "tcp/993   natpmp  mapped" in status(loft)
    finally:
        loft.stop()


def test_acme_ports_deleted_with_the_same_nonce(tmp_path, net):
    router = net.natpmp(wan="203.0.113.7", pcp=True)
    net.dns(public="203.0.113.7")
    loft = Loft(tmp_path, enable=["netwatch"], conf=net.conf(router=router))
    with sqlite3.connect("%s/loft.db" % loft.dir, timeout=10) as db:
        db.execute("INSERT INTO settings(key, value) VALUES ('netwatch.acme_until', ?)",
                   (str(int(time.time()) + 6),))
    loft.start()
    try:
        assert eventually(lambda: 80 in router.mapped and 443 in router.mapped), \
            loft.log()[-3000:]
        assert eventually(lambda: sorted(router.deleted) == [80, 443], timeout=40), \
            (router.deleted, loft.log()[-3000:])
        deletes = [r for r in router.pcp_requests if r[3] == 0]
        assert sorted(r[2] for r in deletes) == [80, 443]
        assert eventually(lambda: "tcp/80 " not in status(loft))
        assert 993 in router.mapped
    finally:
        loft.stop()
