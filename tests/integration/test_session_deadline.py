"""imapd.session_deadline and pop3.session_deadline (none by default): a
session, logged in and busy or not, ends that long after the connect with
the protocol's goodbye (lib/service/listener's session deadline; SMTP's
is smtpd.max_session_time, tested in test_smtpd_limits).  The real loftd
with loft-imapd, 2 s deadlines, idle times of 10 minutes."""
import socket
import ssl
import time

import pytest

from loft_imap_helpers import PASS, USER, ctx, require_binary, running_loft

CONF = {
    "imapd.session_deadline": "2",
    "imapd.idle_timeout": "600",
    "pop3.session_deadline": "2",
    "pop3.idle_timeout": "600",
}


@pytest.fixture(scope="module")
def loft(tmp_path_factory):
    require_binary("loft-imapd")
    yield from running_loft(tmp_path_factory.mktemp("sessdl"), {USER: PASS}, conf=CONF)


def until_closed(s):
    """Everything the server sends until it closes (60 s at most: a
    generous bound on a loaded machine; the deadline is 2 s)."""
    s.settimeout(60)
    data = b""
    while True:
        try:
            d = s.recv(4096)
        except (ConnectionResetError, ssl.SSLError):
            return data
        if not d:
            return data
        data += d


def logged(loft, what):
    """The daemons' lines reach the log through loftd, a moment later."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if what in loft.log():
            return True
        time.sleep(0.1)
    return False


def ends_at_deadline(loft, port, login, logged_in, goodbye):
    """Logs in on port and reads until the server closes: the login was
    answered, then the goodbye came, never before the 2 s deadline."""
    s = ctx().wrap_socket(socket.create_connection(("127.0.0.1", loft.port(port))))
    t0 = time.monotonic()
    s.sendall(login)
    data = until_closed(s)
    s.close()
    assert logged_in in data, data
    assert goodbye in data, data
    assert time.monotonic() - t0 > 1.5
    assert logged(loft, "event=session-deadline"), loft.log()[-3000:]


def test_imap_session_deadline(loft):
    ends_at_deadline(loft, "imaps", b'a LOGIN %s "%s"\r\n' % (USER.encode(), PASS.encode()),
                     b"a OK", b"* BYE Session time limit reached")


def test_pop3_session_deadline(loft):
    ends_at_deadline(loft, "pop3s", b"USER %s\r\nPASS %s\r\n" % (USER.encode(), PASS.encode()),
                     b"+OK maildrop", b"-ERR [SYS/TEMP] session time limit reached")
