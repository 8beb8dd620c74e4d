"""A certificate from an ACME CA through the wizard: Debian's pebble (a
test ACME server) on loopback, dnsmasq answering for the mail host name,
Debian's uacme run by loft-admin, the HTTP-01 challenge served by
loft-admin itself; then every daemon serves the new certificate.

uacme (libcurl with GnuTLS) trusts only the system CA bundle, and
pebble's own HTTPS certificate is made here: uacme runs through a
wrapper that, in a private user and mount namespace, puts a bundle with
our test CA over the system one (nothing outside the namespace sees it).
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from loft_admin_helpers import Browser, admin_loft, wizard_to
from loftenv import free_port, wait_port

HOST = "mail.example.org"


def need(*progs):
    for p in progs:
        if not shutil.which(p):
            pytest.skip("machine: %s not installed" % p)
    r = subprocess.run(["unshare", "-Urm", "true"], capture_output=True)
    if r.returncode != 0:
        pytest.skip("machine: no unprivileged user namespaces (%s)" % r.stderr.decode().strip())


def make_ca(d):
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=loft test CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "pebble.key", "-out", "pebble.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", "pebble.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "pebble.pem", "-days", "2", "-extfile", "ext")
    with open("/etc/ssl/certs/ca-certificates.crt") as sysb, \
            open(os.path.join(d, "bundle.pem"), "w") as out:
        out.write(sysb.read())
        with open(os.path.join(d, "ca.pem")) as ca:
            out.write(ca.read())


def peer_cert(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def issuer(der):
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-issuer"], input=der,
                       capture_output=True, check=True)
    return p.stdout.decode()


def test_acme_certificate_through_the_wizard(tmp_path):
    need("pebble", "uacme", "dnsmasq", "openssl", "unshare")
    procs = []
    with admin_loft(tmp_path, enable=("admin", "smtpd")) as loft:
        # pebble checks the challenge on the port loft-admin's HTTP is on
        http_port = loft.port("http")
        # the tools live beside the data, where the loft user can read them
        work = os.path.join(os.path.dirname(loft.dir), "acme-test")
        os.makedirs(work)
        os.chmod(work, 0o755)
        make_ca(work)
        for f in ("bundle.pem", "pebble.pem"):
            os.chmod(os.path.join(work, f), 0o644)
        dns_port, acme_port, mgmt_port = free_port(), free_port(), free_port()
        procs.append(subprocess.Popen(
            ["dnsmasq", "-k", "--conf-file=/dev/null", "--port=%d" % dns_port,
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
             "--address=/%s/127.0.0.1" % HOST],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with open(os.path.join(work, "pebble.json"), "w") as f:
            json.dump({"pebble": {
                "listenAddress": "127.0.0.1:%d" % acme_port,
                "managementListenAddress": "127.0.0.1:%d" % mgmt_port,
                "certificate": os.path.join(work, "pebble.pem"),
                "privateKey": os.path.join(work, "pebble.key"),
                "httpPort": http_port, "tlsPort": free_port(),
                "ocspResponderURL": "", "externalAccountBindingRequired": False}}, f)
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0",
                   PEBBLE_AUTHZREUSE="0")
        plog = open(os.path.join(str(tmp_path), "pebble.log"), "w")
        procs.append(subprocess.Popen(
            ["pebble", "-config", os.path.join(work, "pebble.json"),
             "-dnsserver", "127.0.0.1:%d" % dns_port], env=env, stdout=plog, stderr=plog))
        wrapper = os.path.join(work, "uacme-test")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    "exec unshare -Urm sh -c 'mount --bind \"$0\" "
                    "/etc/ssl/certs/ca-certificates.crt && exec uacme \"$@\"' %s \"$@\"\n"
                    % os.path.join(work, "bundle.pem"))
        os.chmod(wrapper, 0o755)
        with open(os.path.join(loft.dir, "loft.conf"), "a") as f:
            f.write("acme.command = %s\nacme.url = https://127.0.0.1:%d/dir\n"
                    % (wrapper, acme_port))
        try:
            assert wait_port(acme_port), "pebble did not start"
            loft.start()
            before = peer_cert(loft.port("https"))
            before_smtp = peer_cert(loft.port("submissions"))
            assert "Pebble" not in issuer(before)
            b = Browser(loft)
            wizard_to(b, 7)
            assert "Get a certificate from Let" in b.body
            r = b.post("/setup", {"step": "7", "action": "acme"})
            assert r.status == 200 and "Certificate requested" in b.body, b.body[-1500:]
            status = ""
            for _ in range(600):
                b.get("/setup?step=7")
                m = b.body.split('id="acme-status">', 1)
                status = m[1].split("<", 1)[0] if len(m) > 1 else ""
                if status.startswith(("ok", "failed")):
                    break
                time.sleep(0.2)
            assert status.startswith("ok: certificate issued for " + HOST), (
                status, loft.log()[-4000:])
            live = os.path.join(loft.dir, "acme", "live")
            assert sorted(os.listdir(live)) == ["cert.pem", "key.pem"]
            # the challenge answers are gone once done
            assert not [f for f in os.listdir(os.path.join(loft.dir, "acme"))
                        if f not in ("conf", "live")]
            # loft-admin serves the new certificate at once, the other
            # daemons after the "notify tls" reload
            after = peer_cert(loft.port("https"))
            assert after != before and "Pebble" in issuer(after)
            for _ in range(100):
                if peer_cert(loft.port("submissions")) != before_smtp:
                    break
                time.sleep(0.1)
            assert "Pebble" in issuer(peer_cert(loft.port("submissions")))
            assert "event=acme-step phase=issue status=0" in loft.log()
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
            plog.close()
