"""loft-admin's HTTPS port has the TLS handshake deadline every daemon
shares (lib/service/listener): a client that connects and sends nothing
is closed after admin.handshake_timeout (2 s here), not after the idle
time (admin.timeout, 10 minutes here), so only the handshake deadline can
end the connection before the test's own 60 s bound.  A client that does
finish its handshake is served as before."""
import socket
import time

from loft_admin_helpers import Browser, admin_loft

CONF = {"admin.handshake_timeout": "2", "admin.timeout": "600"}


def closed_by_server(s, bound=60):
    """Reads until the server closes (socket.timeout: it never did)."""
    s.settimeout(bound)
    while True:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            return
        if not d:
            return


def logged(loft):
    """True once the log holds the handshake-timeout line."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if "event=handshake-timeout" in loft.log():
            return True
        time.sleep(0.1)
    return False


def test_silent_https_client_closed(tmp_path):
    with admin_loft(tmp_path, conf=CONF) as loft:
        loft.start()
        assert "event=handshake-timeout" not in loft.log()
        s = socket.create_connection(("127.0.0.1", loft.port("https")))
        try:
            closed_by_server(s)
        finally:
            s.close()
        assert logged(loft), loft.log()[-3000:]
        # a real client still completes its handshake and is served
        assert Browser(loft, https=True).get("/setup").status == 200
