"""The TLS handshake deadline every protocol shares (lib/service/listener):
a client that opens an implicit-TLS port, or says STARTTLS/STLS, and then
never completes the handshake is closed after <proto>.handshake_timeout,
without waiting for the much longer idle time.  The real loftd runs
loft-imapd (IMAP and POP3) and loft-smtpd, with 2 s handshake deadlines
and idle times of 10 minutes, so only the handshake deadline can end these
connections before the test's own 60 s bound."""
import socket
import time

import pytest

from loft_imap_helpers import PASS, USER, require_binary, running_loft

CONF = {
    "imapd.handshake_timeout": "2",
    "imapd.login_timeout": "600",
    "imapd.login_deadline": "600",
    "pop3.handshake_timeout": "2",
    "pop3.idle_timeout": "600",
    "pop3.login_deadline": "600",
    "smtpd.handshake_timeout": "2",
    "smtpd.timeout_command": "600",
    "smtpd.greeting_delay_ms": "0",
}


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    require_binary("loft-imapd")
    require_binary("loft-smtpd")
    yield from running_loft(tmp_path_factory.mktemp("handshake"), {USER: PASS},
                            enable=["imapd", "smtpd"], conf=CONF)


def closed_by_server(s, bound=60):
    """Reads until the server closes; returns what it sent (a silent TLS
    client never gets past the server's first handshake bytes)."""
    s.settimeout(bound)
    data = b""
    while True:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            return data
        if not d:
            return data
        data += d


def logged(loft, n):
    """True once the log holds more than n handshake-timeout lines (the
    daemons' lines reach it through loftd, a moment after the close)."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if loft.log().count("event=handshake-timeout") > n:
            return True
        time.sleep(0.1)
    return False


def line(s):
    data = b""
    while not data.endswith(b"\n"):
        d = s.recv(1)
        assert d, data
        data += d
    return data


@pytest.mark.parametrize("port", ["imaps", "pop3s", "submissions"])
def test_implicit_tls_silent_client_closed(loft, port):
    n = loft.log().count("event=handshake-timeout")
    s = socket.create_connection(("127.0.0.1", loft.port(port)))
    try:
        closed_by_server(s)  # socket.timeout here: the deadline did not act
    finally:
        s.close()
    assert logged(loft, n), loft.log()[-3000:]


def test_starttls_then_silence_closed(loft):
    for port, greeting, cmd, go in (
            ("imap", b"* OK", b"a STARTTLS\r\n", b"a OK"),
            ("pop3", b"+OK", b"STLS\r\n", b"+OK"),
            ("submission", b"220 ", b"EHLO x\r\nSTARTTLS\r\n", b"220 2.0.0")):
        s = socket.create_connection(("127.0.0.1", loft.port(port)))
        s.settimeout(60)
        try:
            assert line(s).startswith(greeting)
            s.sendall(cmd)
            while True:
                l = line(s)
                if l.startswith(go):
                    break
            n = loft.log().count("event=handshake-timeout")
            closed_by_server(s)
        finally:
            s.close()
        assert logged(loft, n), (port, loft.log()[-3000:])
