"""The inbound gateway port (issue 11, "ISP blocks port 25 in"): a relay
that holds the public MX forwards to smtpd.gateway_port.  Only the
addresses of smtpd.gateway_from may connect (others get 554 5.7.1 at
connect); for them it is the MX port.  Off when the port is absent or 0;
a bad value stops loftd at start with a config-error line.  The same
settings in the store (loftctl inbound gateway), and AUTH as the gateway
account (inbound.gateway_user) for clients from other addresses."""
import imaplib
import shutil
import smtplib
import os
import socket
import sqlite3
import subprocess

import pytest

from loftenv import Loft, binary, free_port
from loft_smtp_helpers import PASSWORDS, assert_clean, tls_ctx

MSG = (b"From: <gw@remote.example>\r\nTo: <a@example.org>\r\n"
       b"Subject: through the gateway\r\nMessage-ID: <gw1@remote.example>\r\n"
       b"\r\nforwarded by the inbound relay\r\n")


def make(tmp_path, conf, enable=("smtpd",)):
    base = {"smtpd.greeting_delay_ms": "50"}
    base.update(conf)
    loft = Loft(tmp_path, enable=list(enable), conf=base)
    loft.add_domain("example.org")
    loft.add_user("a@example.org", PASSWORDS["a@example.org"])
    return loft


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    port = free_port()
    loft = make(tmp_path_factory.mktemp("gateway"),
                {"smtpd.gateway_port": str(port),
                 "smtpd.gateway_from": "192.0.2.10, 127.0.0.1/32, 2001:db8::/48"},
                enable=("smtpd", "imapd"))
    loft.gateway = port
    loft.start()
    assert loft.wait_log("event=listening name=gateway")
    yield loft
    loft.stop()
    assert_clean(loft)


def test_allowed_gateway_delivers_readable_over_imap(gw):
    with smtplib.SMTP("127.0.0.1", gw.gateway, timeout=30) as s:
        s.ehlo("relay.gateway.example")
        # an MX port: no AUTH offered without TLS, STARTTLS offered
        assert not s.has_extn("auth")
        s.sendmail("gw@remote.example", ["a@example.org"], MSG)
    m = imaplib.IMAP4("127.0.0.1", gw.port("imap"))
    try:
        m.starttls(ssl_context=tls_ctx())
        m.login("a@example.org", PASSWORDS["a@example.org"])
        typ, data = m.select("INBOX")
        assert typ == "OK" and int(data[0]) == 1, data
        typ, data = m.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK"
        assert b"forwarded by the inbound relay" in data[0][1]
    finally:
        m.logout()


def test_gateway_port_does_not_relay(gw):
    with smtplib.SMTP("127.0.0.1", gw.gateway, timeout=30) as s:
        s.ehlo("relay.gateway.example")
        s.mail("gw@remote.example")
        code, text = s.rcpt("victim@elsewhere.example")
        assert code == 550 and text.startswith(b"5.7.1"), (code, text)


def test_other_source_refused_at_connect(gw):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(30)
    try:
        sock.bind(("127.0.0.2", 0))
    except OSError as e:
        pytest.skip("machine: cannot bind 127.0.0.2: %s" % e)
    sock.connect(("127.0.0.1", gw.gateway))
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert data.startswith(b"554 5.7.1 "), data
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == 1, data
    assert gw.wait_log("event=gateway-refused peer=127.0.0.2 ")
    # and with smtplib, the way a real client sees it
    with pytest.raises(smtplib.SMTPConnectError) as e:
        smtplib.SMTP("127.0.0.1", gw.gateway, timeout=30, source_address=("127.0.0.2", 0))
    assert e.value.smtp_code == 554


def test_mx_port_still_open_to_all(gw):
    with smtplib.SMTP("127.0.0.1", gw.port("mx"), timeout=30,
                      source_address=("127.0.0.2", 0)) as s:
        assert s.noop()[0] == 250


def test_gateway_off_nothing_listens(tmp_path):
    port = free_port()
    # the address is configured, but port 0 keeps it off
    loft = make(tmp_path, {"smtpd.gateway_port": "0",
                           "smtpd.gateway_from": "127.0.0.1",
                           "listen.gateway": "127.0.0.1:%d" % port})
    loft.start()
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        assert "name=gateway" not in loft.log()
    finally:
        loft.stop()
    assert_clean(loft)


@pytest.mark.parametrize("conf,key", [
    ({"smtpd.gateway_port": "banana"}, "smtpd.gateway_port"),
    ({"smtpd.gateway_port": "70000"}, "smtpd.gateway_port"),
    ({"smtpd.gateway_port": "2526"}, "smtpd.gateway_from"),
    ({"smtpd.gateway_port": "2526", "smtpd.gateway_from": "10.0.0.0/33"},
     "smtpd.gateway_from"),
    ({"smtpd.gateway_port": "2526", "smtpd.gateway_from": "banana"}, "smtpd.gateway_from"),
])
def test_bad_config_refused_at_start(tmp_path, conf, key):
    loft = make(tmp_path, conf)
    with open(loft.logpath, "ab") as logf:
        p = subprocess.run([binary("loftd"), "-d", loft.dir, "--dev"],
                           stdout=logf, stderr=logf, timeout=60)
    assert p.returncode != 0
    log = loft.log()
    assert "event=config-error key=%s " % key in log, log[-2000:]
    assert "event=spawn" not in log and "event=listen " not in log, log[-2000:]


def settings(loft):
    with sqlite3.connect(os.path.join(loft.dir, "loft.db"), timeout=10) as c:
        return dict(c.execute("SELECT key, value FROM settings WHERE key LIKE 'inbound.%'"))


def dns_lines(loft, rtype):
    out = loft.ctl("dns", "example.org").stdout
    if rtype == "SPF":
        return [l for l in out.splitlines() if "v=spf1" in l]
    return [l for l in out.splitlines() if "\t%s\t" % rtype in l]


def test_loftctl_dns_prints_gateway_mx_and_spf(tmp_path):
    loft = make(tmp_path, {})
    mx = dns_lines(loft, "MX")
    assert mx == ["example.org.\t\tMX\t10 loft.test."], mx
    assert dns_lines(loft, "SPF") == ['example.org.\t\tTXT\t"v=spf1 mx ~all"']
    loft.ctl("inbound", "gateway", "set", "mx.gateway.example")
    mx = dns_lines(loft, "MX")
    assert len(mx) == 1 and mx[0].startswith("example.org.\t\tMX\t10 mx.gateway.example."), mx
    # the gateway only receives: SPF names the box by its host name, never
    # "mx" (which would now allow the gateway and not the box)
    assert dns_lines(loft, "SPF") == ['example.org.\t\tTXT\t"v=spf1 a:loft.test ~all"']
    # with a known relay its include stays
    loft.ctl("smarthost", "preset", "mailgun-us", "--user", "u@mg.example.org", input="pw\n")
    spf = dns_lines(loft, "SPF")
    assert spf == ['example.org.\t\tTXT\t"v=spf1 a:loft.test include:mailgun.org ~all"'], spf
    loft.ctl("inbound", "gateway", "clear")
    assert dns_lines(loft, "MX") == ["example.org.\t\tMX\t10 loft.test."]
    assert dns_lines(loft, "SPF") == ['example.org.\t\tTXT\t"v=spf1 mx include:mailgun.org ~all"']


def test_loftctl_gateway_set_show_clear(tmp_path):
    loft = make(tmp_path, {})
    out = loft.ctl("inbound", "gateway", "show").stdout
    assert "none (this box is the MX)" in out, out
    out = loft.ctl("inbound", "gateway", "set", "mx.gateway.example", "--port", "2526",
                   "--from", "192.0.2.10, 2001:db8::/48").stdout
    assert "Gateway MX:   mx.gateway.example" in out, out
    assert "Gateway port: 2526" in out and "192.0.2.10, 2001:db8::/48" in out, out
    assert "opens when loftd restarts" in out, out
    assert settings(loft) == {"inbound.gateway_mx": "mx.gateway.example",
                              "inbound.gateway_port": "2526",
                              "inbound.gateway_from": "192.0.2.10, 2001:db8::/48"}
    # set keeps what it is not given
    loft.ctl("inbound", "gateway", "set", "mx2.gateway.example")
    assert settings(loft)["inbound.gateway_port"] == "2526"
    assert settings(loft)["inbound.gateway_mx"] == "mx2.gateway.example"
    out = loft.ctl("inbound", "gateway", "show").stdout
    assert "mx2.gateway.example" in out and "Problem" not in out, out
    out = loft.ctl("route", "status").stdout
    assert "Inbound:  through the gateway mx2.gateway.example" in out, out
    out = loft.ctl("inbound", "gateway", "clear").stdout
    assert "closes when loftd restarts" in out, out
    assert settings(loft) == {}


@pytest.mark.parametrize("args,why", [
    (["not a host"], "host name"),
    (["-x.example"], None),
    (["mx.gateway.example", "--port", "25", "--from", "192.0.2.10"], "1024 to 65535"),
    (["mx.gateway.example", "--port", "banana", "--from", "192.0.2.10"], "port number"),
    (["mx.gateway.example", "--port", "70000", "--from", "192.0.2.10"], "port number"),
    (["mx.gateway.example", "--port", "2526"], "addresses"),
    (["mx.gateway.example", "--port", "2526", "--from", "10.0.0.0/33"], "CIDR"),
    (["mx.gateway.example", "--port", "2526", "--from", "banana"], "CIDR"),
    (["mx.gateway.example", "--port"], None),
    (["mx.gateway.example", "--bogus", "1"], None),
])
def test_loftctl_gateway_bad_input_changes_nothing(tmp_path, args, why):
    loft = make(tmp_path, {})
    p = loft.ctl("inbound", "gateway", "set", *args, check=False)
    assert p.returncode != 0, p.stdout
    if why:
        assert why in p.stderr, p.stderr
    assert settings(loft) == {}


def test_gateway_port_from_the_store(tmp_path):
    port = free_port()
    loft = make(tmp_path, {})
    loft.ctl("inbound", "gateway", "set", "mx.gateway.example", "--port", str(port),
             "--from", "127.0.0.1")
    loft.start()
    try:
        assert loft.wait_log("event=listening name=gateway from=\"127.0.0.1\"")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.ehlo("relay.gateway.example")
            s.sendmail("gw@remote.example", ["a@example.org"], MSG)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.bind(("127.0.0.2", 0))
        sock.connect(("127.0.0.1", port))
        assert sock.recv(200).startswith(b"554 5.7.1 ")
        sock.close()
    finally:
        loft.stop()
    assert_clean(loft)


def test_loft_conf_wins_over_the_store(tmp_path):
    cport, sport = free_port(), free_port()
    loft = make(tmp_path, {"smtpd.gateway_port": str(cport),
                           "smtpd.gateway_from": "127.0.0.1"})
    loft.ctl("inbound", "gateway", "set", "mx.gateway.example", "--port", str(sport),
             "--from", "192.0.2.10")
    out = loft.ctl("inbound", "gateway", "show").stdout
    assert "Gateway port: %d (smtpd.gateway_port in loft.conf)" % cport in out, out
    loft.start()
    try:
        assert loft.wait_log("event=listening name=gateway from=\"127.0.0.1\"")
        with smtplib.SMTP("127.0.0.1", cport, timeout=30) as s:
            assert s.noop()[0] == 250
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", sport), timeout=10).close()
    finally:
        loft.stop()
    assert_clean(loft)


@pytest.mark.parametrize("rows", [
    {"inbound.gateway_from": "banana"},
    {"inbound.gateway_from": ""},
    {"inbound.gateway_port": "x1", "inbound.gateway_from": "127.0.0.1"},
    {"inbound.gateway_port": "80", "inbound.gateway_from": "127.0.0.1"},
])
def test_bad_store_values_keep_the_port_closed(tmp_path, rows):
    """The database is writable by the daemons' user: loftd (root) reads it
    through its migration child and refuses a bad value with a log line,
    the port closed and everything else running."""
    port = free_port()
    loft = make(tmp_path, {})
    rows = dict(rows)
    rows.setdefault("inbound.gateway_port", str(port))
    with sqlite3.connect(os.path.join(loft.dir, "loft.db"), timeout=10) as c:
        for k, v in rows.items():
            c.execute("INSERT INTO settings(key, value) VALUES (?, ?)", (k, v))
    loft.start()
    try:
        assert "event=config-error key=inbound.gateway_port" in loft.log(), loft.log()[-2000:]
        assert "name=gateway" not in loft.log()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=30) as s:
            assert s.noop()[0] == 250
    finally:
        loft.stop()
    assert_clean(loft)


# --- AUTH on the gateway port (a gateway with changing addresses) ---------

GW_USER, GW_PW = "gw@example.org", "gateway-secret-77"


@pytest.fixture(scope="module")
def gwauth(tmp_path_factory):
    port = free_port()
    loft = make(tmp_path_factory.mktemp("gwauth"), {}, enable=("smtpd", "imapd"))
    loft.add_user(GW_USER, GW_PW)
    # 127.0.0.1 is not among the gateway's addresses: AUTH is the way in
    loft.ctl("inbound", "gateway", "set", "mx.gateway.example", "--port", str(port),
             "--from", "192.0.2.10", "--user", GW_USER)
    loft.gateway = port
    loft.start()
    assert loft.wait_log("event=listening name=gateway")
    yield loft
    loft.stop()
    assert_clean(loft)


def inbox_count(loft):
    m = imaplib.IMAP4("127.0.0.1", loft.port("imap"))
    try:
        m.starttls(ssl_context=tls_ctx())
        m.login("a@example.org", PASSWORDS["a@example.org"])
        typ, data = m.select("INBOX", readonly=True)
        return int(data[0])
    finally:
        m.logout()


def test_gateway_auth_needs_tls_and_auth_first(gwauth):
    with smtplib.SMTP("127.0.0.1", gwauth.gateway, timeout=30) as s:
        s.ehlo("relay.gateway.example")
        assert s.has_extn("starttls") and not s.has_extn("auth")
        code, text = s.mail("gw@remote.example")
        assert code == 530 and text.startswith(b"5.7.0"), (code, text)
        code, text = s.docmd("AUTH", "PLAIN AGd3QGV4YW1wbGUub3JnAHg=")
        assert code == 538 and text.startswith(b"5.7.11"), (code, text)
        s.starttls(context=tls_ctx())
        s.ehlo("relay.gateway.example")
        assert "PLAIN" in s.esmtp_features.get("auth", "").upper()
        code, text = s.mail("gw@remote.example")
        assert code == 530 and text.startswith(b"5.7.0"), (code, text)


def test_gateway_account_relays_in_only(gwauth):
    before = inbox_count(gwauth)
    with smtplib.SMTP("127.0.0.1", gwauth.gateway, timeout=30) as s:
        s.ehlo("relay.gateway.example")
        s.starttls(context=tls_ctx())
        s.ehlo("relay.gateway.example")
        code, _ = s.login(GW_USER, GW_PW)
        assert code == 235
        # a sender of anywhere: the gateway passes on the world's mail
        code, _ = s.mail("someone@remote.example")
        assert code == 250
        code, text = s.rcpt("victim@elsewhere.example")
        assert code == 550 and text.startswith(b"5.7.1"), (code, text)
        s.rset()
        s.sendmail("someone@remote.example", ["a@example.org"], MSG)
    assert inbox_count(gwauth) == before + 1
    assert gwauth.wait_log("event=gateway-auth result=ok")


def test_other_account_or_wrong_password_refused(gwauth):
    with smtplib.SMTP("127.0.0.1", gwauth.gateway, timeout=30) as s:
        s.ehlo("relay.gateway.example")
        s.starttls(context=tls_ctx())
        s.ehlo("relay.gateway.example")
        # a real account with its right password, but not the gateway's
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("a@example.org", PASSWORDS["a@example.org"])
        assert e.value.smtp_code == 535 and e.value.smtp_error.startswith(b"5.7.8")
        code, text = s.mail("someone@remote.example")
        assert code == 530, (code, text)
    with smtplib.SMTP("127.0.0.1", gwauth.gateway, timeout=30) as s:
        s.ehlo("relay.gateway.example")
        s.starttls(context=tls_ctx())
        s.ehlo("relay.gateway.example")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(GW_USER, "not-the-password")
        assert e.value.smtp_code == 535
    assert gwauth.wait_log("reason=\"not the gateway account\"")


def test_gateway_auth_with_swaks(gwauth):
    if not shutil.which("swaks"):
        pytest.skip("machine: swaks not installed")
    before = inbox_count(gwauth)
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(gwauth.gateway),
                        "--ehlo", "relay.gateway.example", "--tls",
                        "--auth", "LOGIN", "--auth-user", GW_USER, "--auth-password", GW_PW,
                        "--from", "sender@remote.example", "--to", "a@example.org",
                        "--header", "Subject: by swaks through the gateway"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "235 2.7.0" in p.stdout and "250 2.0.0" in p.stdout
    assert inbox_count(gwauth) == before + 1


def test_listed_address_needs_no_auth_when_an_account_is_set(tmp_path):
    port = free_port()
    loft = make(tmp_path, {})
    loft.add_user(GW_USER, GW_PW)
    loft.ctl("inbound", "gateway", "set", "mx.gateway.example", "--port", str(port),
             "--from", "127.0.0.1", "--user", GW_USER)
    loft.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.ehlo("relay.gateway.example")
            assert not s.has_extn("auth")
            s.sendmail("gw@remote.example", ["a@example.org"], MSG)
        # the account without the address list: AUTH is the only way
        loft.ctl("inbound", "gateway", "set", "mx.gateway.example", "--from", "")
        assert "Gateway from: (none)" in loft.ctl("inbound", "gateway", "show").stdout
    finally:
        loft.stop()
    assert_clean(loft)


@pytest.mark.parametrize("args,why", [
    (["--user", "nobody@example.org"], "not a Loft user"),
    (["--user", "x" * 300], "too long"),
])
def test_loftctl_gateway_user_must_exist(tmp_path, args, why):
    loft = make(tmp_path, {})
    p = loft.ctl("inbound", "gateway", "set", "mx.gateway.example", *args, check=False)
    assert p.returncode == 1 and why in p.stderr, p.stderr
    assert settings(loft) == {}


def test_settings_gone_bad_refuse_everyone_smtpd_stays(tmp_path):
    """The store changed behind loftd's back (a raw write), then loft-smtpd
    restarts: the gateway port refuses every client at connect, and the
    MX port and loft-smtpd itself stay up."""
    import signal
    import time
    port = free_port()
    # one loft-smtpd (no standby), so the one killed is the one serving
    loft = make(tmp_path, {"smtpd.standby": "no"})
    loft.ctl("inbound", "gateway", "set", "mx.gateway.example", "--port", str(port),
             "--from", "127.0.0.1")
    loft.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            assert s.noop()[0] == 250
        with sqlite3.connect(os.path.join(loft.dir, "loft.db"), timeout=10) as c:
            c.execute("UPDATE settings SET value = 'banana' WHERE key = 'inbound.gateway_from'")
        pid = loft.children()["loft-smtpd"]
        os.kill(pid, signal.SIGKILL)
        assert loft.wait_log("event=gateway-closed", timeout=30), loft.log()[-3000:]
        assert loft.wait_log("event=ready name=loft-smtpd ", count=2, timeout=30)
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            assert sock.recv(200).startswith(b"554 5.7.1 ")
        finally:
            sock.close()
        with smtplib.SMTP("127.0.0.1", loft.port("mx"), timeout=30) as s:
            assert s.noop()[0] == 250
        time.sleep(0.5)
        assert loft.children().get("loft-smtpd") not in (None, pid)
    finally:
        loft.stop()
