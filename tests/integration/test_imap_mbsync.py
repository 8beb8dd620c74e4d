"""Two-way sync with mbsync (isync): a Maildir on the near side, loft-imapd
over IMAPS on the far side.  Sync, change flags on each side, add a message
on each side, delete one on each side, sync again: both sides must then
hold the same messages with the same flags, checked through imaplib and by
reading the Maildir files.  A third sync changes nothing."""
import imaplib
import os
import re
import shutil
import subprocess
import time

import pytest

from loft_imap_helpers import PASS, USER, ctx, finish, start_loft

# board/deps.sh installs isync for make test: missing, the tests fail
MBSYNC = shutil.which("mbsync") or "mbsync"

# Maildir info letters <-> IMAP system flags mbsync maps between
LETTERS = {"S": "\\Seen", "F": "\\Flagged", "R": "\\Answered", "T": "\\Deleted", "D": "\\Draft"}


def message(subject):
    return ("From: Bob <bob@example.com>\r\nTo: a@example.org\r\nSubject: %s\r\n"
            "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <%s@mbsync>\r\n\r\n"
            "Body of %s.\r\n" % (subject, subject, subject)).encode()


@pytest.fixture()
def env(tmp_path):
    lf = start_loft(tmp_path, {USER: PASS})
    mail = tmp_path / "mail"
    mail.mkdir()
    conf = tmp_path / "mbsyncrc"
    conf.write_text("""
IMAPAccount loft
Host 127.0.0.1
Port %d
User %s
Pass "%s"
SSLType IMAPS
CertificateFile %s
SystemCertificates no

IMAPStore far
Account loft

MaildirStore near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel loft
Far :far:
Near :near:
Patterns INBOX
Create Both
Expunge Both
Sync All
SyncState *
""" % (lf.port("imaps"), USER, PASS, os.path.join(lf.dir, "tls", "cert.pem"), mail, mail))
    yield lf, conf, mail
    finish(lf)


def mbsync(conf):
    p = subprocess.run([MBSYNC, "-c", str(conf), "-V", "loft"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout + p.stderr


def far_state():
    """{subject: flags} of INBOX as IMAP sees it (\\Recent left out)."""
    m = imaplib.IMAP4_SSL("127.0.0.1", PORT[0], ssl_context=ctx())
    m.login(USER, PASS)
    m.select("INBOX", readonly=True)
    typ, dat = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    m.logout()
    out = {}
    for part in dat:
        if not isinstance(part, tuple):
            continue
        flags = set(re.search(rb"FLAGS \(([^)]*)\)", part[0]).group(1).decode().split())
        flags.discard("\\Recent")
        subj = part[1].decode().split(":", 1)[1].strip()
        assert subj not in out, "duplicate on the far side: " + subj
        out[subj] = flags
    return out


def near_files(mail):
    for sub in ("cur", "new"):
        d = os.path.join(mail, "INBOX", sub)
        for name in os.listdir(d):
            yield os.path.join(d, name), sub


def near_state(mail):
    """{subject: flags} of the Maildir INBOX."""
    out = {}
    for path, sub in near_files(mail):
        with open(path, "rb") as f:
            head = f.read().split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
        subj = re.search(rb"^Subject: *(.*?)\r?$", head, re.M).group(1).decode()
        info = os.path.basename(path).split(":2,", 1)
        flags = {LETTERS[ch] for ch in info[1] if ch in LETTERS} if len(info) == 2 else set()
        assert subj not in out, "duplicate on the near side: " + subj
        out[subj] = flags
    return out


def near_find(mail, subject):
    for path, sub in near_files(mail):
        with open(path, "rb") as f:
            # mbsync stores lines with LF only
            if re.search(rb"^Subject: " + subject.encode() + rb"\r?$", f.read(), re.M):
                return path
    raise AssertionError("no near message " + subject)


PORT = [0]


def test_two_way_sync_twice(env):
    lf, conf, mail = env
    PORT[0] = lf.port("imaps")
    m = imaplib.IMAP4_SSL("127.0.0.1", PORT[0], ssl_context=ctx())
    m.login(USER, PASS)
    for subj, flags in (("m1", r"(\Seen)"), ("m2", None), ("m3", None), ("m4", r"(\Answered)")):
        assert m.append("INBOX", flags, None, message(subj))[0] == "OK"
    m.logout()

    # 1: the far side's mail arrives in an empty Maildir
    mbsync(conf)
    first = {"m1": {"\\Seen"}, "m2": set(), "m3": set(), "m4": {"\\Answered"}}
    assert far_state() == first
    assert near_state(mail) == first

    # changes on the far side: a flag, a new message, an expunge
    m = imaplib.IMAP4_SSL("127.0.0.1", PORT[0], ssl_context=ctx())
    m.login(USER, PASS)
    m.select("INBOX")
    typ, dat = m.uid("SEARCH", None, "SUBJECT", "m1")
    assert m.uid("STORE", dat[0].decode(), "+FLAGS", r"(\Flagged)")[0] == "OK"
    typ, dat = m.uid("SEARCH", None, "SUBJECT", "m4")
    m.uid("STORE", dat[0].decode(), "+FLAGS", r"(\Deleted)")
    m.expunge()
    assert m.append("INBOX", None, None, message("far-new"))[0] == "OK"
    m.logout()
    # and on the near side: a flag, a new message, a deletion
    p2 = near_find(mail, "m2")
    base, _, info = os.path.basename(p2).partition(":2,")
    os.rename(p2, os.path.join(mail, "INBOX", "cur",
                               base + ":2," + "".join(sorted(info + "S"))))
    os.unlink(near_find(mail, "m3"))
    with open(os.path.join(mail, "INBOX", "new", "%d.loft.near" % time.time_ns()), "wb") as f:
        f.write(message("near-new"))

    # 2: both ways at once
    mbsync(conf)
    want = {"m1": {"\\Seen", "\\Flagged"}, "m2": {"\\Seen"}, "far-new": set(),
            "near-new": set()}
    assert far_state() == want
    assert near_state(mail) == want

    # 3: nothing left to do; the sides still agree
    mbsync(conf)
    assert far_state() == want
    assert near_state(mail) == want
