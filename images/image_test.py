#!/usr/bin/python3
"""make image-test: the SD-card image booted in qemu-system-aarch64 -M virt
and used as a person would.

The image is unpacked from build/loft-rpi-arm64.img.xz (what ships) into
build/image-test/disk.img, one GiB larger than written (a card bigger than
the image: first boot must grow into it), with an SSH public key put on
its FAT partition the way the README tells the owner to.  The kernel and
initrd are taken from that FAT partition.  The guest's network is slirp
with restrict=on (nothing leaves this machine); SSH, SMTP, IMAP, HTTP and
HTTPS are forwarded to free ports on 127.0.0.1.

Checks, in the order a person meets them: the box boots and answers, first
boot grew the root and made its keys, the services run, the LED says
"setup", the wizard page loads and is completed over HTTP, a message sent
by SMTP to the mailbox the wizard made is read back over IMAP, the LED says
"running", and after a reboot the message is still there.  Prints
"ok N - ..." lines and closes with "N passed, N failed".
"""
import imaplib
import json
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import http.client

TOP = sys.argv[1]
OUT = os.path.join(TOP, "build", "image-test")
XZ = os.path.join(TOP, "build", "loft-rpi-arm64.img.xz")
BOOT_TIMEOUT = int(os.environ.get("IMAGE_TEST_BOOT_TIMEOUT", "1500"))
ADMIN_PW = "image test admin password"
MAIL_PW = "alice-image-secret"

passed = failed = 0
gaps = []
t0 = time.time()


def ok(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok %d - %s" % (passed + failed, what), flush=True)
    else:
        failed += 1
        print("not ok %d - %s" % (passed + failed, what), flush=True)
        if detail:
            for line in str(detail).splitlines()[-25:]:
                print("    " + line, flush=True)
    return cond


def say(msg):
    print("image-test: [%ds] %s" % (time.time() - t0, msg), flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# --- the disk ---------------------------------------------------------
shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
disk = os.path.join(OUT, "disk.img")
RAW = os.environ.get("IMAGE_TEST_RAW")  # a raw image instead of the .xz (quicker)
if RAW:
    say("copying %s" % RAW)
    subprocess.run(["cp", "--sparse=always", RAW, disk], check=True)
else:
    say("unpacking %s" % os.path.basename(XZ))
    with open(disk, "wb") as f:
        subprocess.run(["xz", "-dc", "-T2", XZ], stdout=f, check=True)
written = os.path.getsize(disk)
parts = json.loads(run(["sfdisk", "-J", disk]))["partitiontable"]["partitions"]
ok(len(parts) == 2 and parts[0]["type"] == "c" and parts[1]["type"] == "83",
   "the image has a FAT partition then a Linux one", parts)
fat_off = parts[0]["start"] * 512
root_sectors = parts[1]["size"]
fat = "%s@@%d" % (disk, fat_off)
names = run(["mdir", "-b", "-i", fat, "::/"]).split()
names = [n.rsplit("/", 1)[-1] for n in names]
kernel = sorted(n for n in names if n.startswith("vmlinuz-"))
initrd = sorted(n for n in names if n.startswith("initrd.img-"))
ok(kernel and initrd and "config.txt" in names and "cmdline.txt" in names
   and any(n.startswith("bcm27") and n.endswith(".dtb") for n in names)
   and "start4.elf" in names,
   "the FAT partition has the Pi firmware, config.txt, cmdline.txt, device trees, kernel, initrd",
   names)
cmdline = run(["mtype", "-i", fat, "::/cmdline.txt"])
ok("root=LABEL=LOFTROOT" in cmdline, "cmdline.txt boots the root by its label", cmdline)
for n in (kernel[-1], initrd[-1]):
    run(["mcopy", "-o", "-i", fat, "::/" + n, os.path.join(OUT, n)])
key = os.path.join(OUT, "id_ed25519")
run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
run(["mcopy", "-o", "-i", fat, key + ".pub", "::/authorized_keys"])
# a card larger than the image
with open(disk, "r+b") as f:
    f.truncate(written + (1 << 30))

ports = {g: free_port() for g in (22, 25, 587, 143, 993, 80, 443)}
fwd = ",".join("hostfwd=tcp:127.0.0.1:%d-:%d" % (p, g) for g, p in ports.items())
console = os.path.join(OUT, "console.log")
qemu_cmd = [
    "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a53", "-smp", "2", "-m", "1024",
    "-kernel", os.path.join(OUT, kernel[-1]), "-initrd", os.path.join(OUT, initrd[-1]),
    "-append", "root=LABEL=LOFTROOT rw rootwait console=ttyAMA0 net.ifnames=0",
    "-drive", "if=none,id=hd,format=raw,file=" + disk, "-device", "virtio-blk-pci,drive=hd",
    "-netdev", "user,id=net0,restrict=on," + fwd, "-device", "virtio-net-pci,netdev=net0,romfile=",
    "-device", "virtio-rng-pci",
    "-display", "none", "-monitor", "none", "-serial", "file:" + console,
]
say("booting: " + " ".join(qemu_cmd))
qemu = subprocess.Popen(["nice", "-n", "10"] + qemu_cmd, stdin=subprocess.DEVNULL,
                        stdout=open(os.path.join(OUT, "qemu.log"), "w"), stderr=subprocess.STDOUT)


def ssh(cmd, timeout=120):
    p = subprocess.run(["ssh", "-i", key, "-p", str(ports[22]), "-o", "BatchMode=yes",
                        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR", "root@127.0.0.1", cmd],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def wait_ssh(limit):
    end = time.time() + limit
    while time.time() < end:
        if qemu.poll() is not None:
            return False
        try:
            rc, _ = ssh("true", timeout=60)
            if rc == 0:
                return True
        except subprocess.TimeoutExpired:
            pass
        time.sleep(5)
    return False


def console_tail():
    try:
        with open(console, errors="replace") as f:
            return f.read()[-3000:]
    except OSError:
        return ""


class Browser:
    """Keeps the session cookie, reads the CSRF token of each form."""

    def __init__(self):
        self.cookie = None
        self.token = None
        self.body = ""

    def request(self, method, path, fields=None):
        h = {"Host": "loft.local"}
        body = None
        if self.cookie:
            h["Cookie"] = self.cookie
        if fields is not None:
            f = dict(fields)
            if self.token:
                f["csrf"] = self.token
            body = urllib.parse.urlencode(f)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        c = http.client.HTTPConnection("127.0.0.1", ports[80], timeout=120)
        c.request(method, path, body, h)
        r = c.getresponse()
        self.body = r.read().decode("utf-8", "replace")
        c.close()
        sc = r.getheader("Set-Cookie")
        if sc:
            pair = sc.split(";")[0]
            self.cookie = None if pair.endswith("=") else pair
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', self.body)
        if m:
            self.token = m.group(1)
        return r

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        return self.request("POST", path, fields)


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE  # the box's certificate is self-signed until ACME
    return c


def read_back(subject):
    m = imaplib.IMAP4("127.0.0.1", ports[143], timeout=120)
    try:
        m.starttls(ssl_context=tls_ctx())
        m.login("alice@example.org", MAIL_PW)
        m.select("INBOX")
        typ, data = m.search(None, "SUBJECT", '"%s"' % subject)
        ids = data[0].split()
        if not ids:
            return None
        typ, msg = m.fetch(ids[-1], "(BODY.PEEK[])")
        return msg[0][1].decode("utf-8", "replace")
    finally:
        try:
            m.logout()
        except Exception:
            pass


def stop_guest():
    if qemu.poll() is None:
        try:
            ssh("systemctl poweroff", timeout=30)
        except Exception:
            pass
        try:
            qemu.wait(180)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()


try:
    up = wait_ssh(BOOT_TIMEOUT)
    boot_s = time.time() - t0
    if not ok(up, "the box boots and lets its owner in by SSH with the key from the FAT partition (%ds)" % boot_s,
              console_tail()):
        raise SystemExit
    say("up after %ds" % boot_s)

    rc, out = ssh("cat /var/lib/loft-image/firstboot-done && hostname && "
                  "journalctl -b -u loft-firstboot --no-pager -o cat")
    ok(rc == 0 and "loft" in out.split("\n")[1:2], "first boot ran and named the host loft", out)
    rc, out = ssh("lsblk -bno SIZE $(findmnt -no SOURCE /); df -B1 --output=size / | tail -1")
    sizes = [int(x) for x in out.split()] if rc == 0 else []
    ok(len(sizes) == 2 and sizes[0] > root_sectors * 512 + (900 << 20)
       and sizes[1] > root_sectors * 512 + (800 << 20),
       "first boot grew the root partition and filesystem into the larger card", out)
    rc, out = ssh("ls /etc/ssh/ssh_host_ed25519_key.pub && cat /etc/machine-id")
    ok(rc == 0 and re.search(r"^[0-9a-f]{32}$", out, re.M), "SSH host keys and a machine-id made on the box", out)
    # under emulation boot may still be finishing when SSH answers: each
    # unit is given up to 5 minutes to leave "activating"; one that is not
    # active shows its journal of this boot
    for unit in ("loft", "unbound", "avahi-daemon", "systemd-timesyncd", "systemd-networkd", "ssh",
                 "loft-led.timer"):
        end = time.time() + 300
        while True:
            rc, out = ssh("systemctl is-active %s" % unit)
            if rc == 0 or out.strip() not in ("activating", "reloading") or time.time() > end:
                break
            time.sleep(10)
        if rc != 0:
            out += ssh("journalctl -b -u %s --no-pager -o short-monotonic | tail -40" % unit)[1]
        ok(rc == 0, "%s is active" % unit, out)
    rc, out = ssh("systemctl --failed --no-legend --plain")
    ok(rc == 0 and out.strip() == "", "no failed unit", out)
    rc, out = ssh("journalctl -b -u avahi-daemon --no-pager -o cat | grep -m1 'Host name is'; "
                  "ls /etc/avahi/services/loft.service")
    ok(rc == 0 and "loft.local" in out, "avahi announces loft.local and the web page", out)
    rc, out = ssh("ss -lnu | grep -q '127.0.0.1:53 ' && echo listening; grep -c '^nameserver 127.0.0.1' /etc/resolv.conf")
    ok(rc == 0 and out.split() == ["listening", "1"], "unbound serves the box's DNS on loopback", out)
    # the guest has no way out (restrict=on), as a board that boots before
    # its WAN is up: unbound must still run, validating from the root
    # trust anchor of dns-root-data, kept in a file unbound itself may
    # rewrite (RFC 5011 updates of auto-trust-anchor-file)
    rc, out = ssh("stat -c '%U %s' /var/lib/unbound/root.key; grep -c 'DNSKEY' /var/lib/unbound/root.key")
    f = out.split()
    ok(rc == 0 and len(f) == 3 and f[0] == "unbound" and int(f[1]) > 0 and int(f[2]) > 0,
       "unbound's root trust anchor is in place and unbound's to rewrite", out)
    # a real query over UDP to 127.0.0.1:53 (bash's /dev/udp; the image
    # has no dig): localhost. A is answered by unbound itself, offline
    rc, out = ssh("bash -c 'exec 3<>/dev/udp/127.0.0.1/53; "
                  "printf \"\\x4c\\x46\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00"
                  "\\x09localhost\\x00\\x00\\x01\\x00\\x01\" >&3; "
                  "timeout 20 dd bs=512 count=1 <&3 2>/dev/null | od -An -v -tx1'")
    b = out.split()
    ok(rc == 0 and len(b) >= 16 and b[0:2] == ["4c", "46"] and int(b[2], 16) & 0x80
       and int(b[3], 16) & 0x0f == 0 and b[6:8] == ["00", "01"] and b[-4:] == ["7f", "00", "00", "01"],
       "unbound answers a DNS query (localhost. A 127.0.0.1) with no network", out)
    rc, out = ssh("ps -o user=,comm= -C loftd,loft-smtpd,loft-imapd,loft-admin,loft-queue,loft-netwatch")
    procs = [l.split() for l in out.strip().splitlines()]
    ok(rc == 0 and ["root", "loftd"] in procs and ["loft", "loft-smtpd"] in procs
       and ["loft", "loft-imapd"] in procs and all(u == "loft" for u, c in procs if c != "loftd"),
       "loftd runs as root, every daemon as loft", out)
    rc, out = ssh("/usr/lib/loft-image/led.sh auto; cat /run/loft-led.state")
    ok(rc == 0 and out.strip().endswith("setup"), "the LED state says setup needed", out)

    # --- the wizard, over HTTP, as from a phone on the LAN -------------
    b = Browser()
    have_admin = ssh("test -x /usr/lib/loft/loft-admin")[0] == 0
    if not have_admin:
        gaps.append("loft-admin is not in the image: no wizard to load or complete")
        ok(False, "KNOWN GAP: the wizard page loads (loft-admin not in the image)")
        ok(False, "KNOWN GAP: the wizard completes over HTTP (loft-admin not in the image)")
    else:
        r = b.get("/")
        loc = r.getheader("Location")
        ok(r.status == 302 and loc == "/setup", "http://loft.local/ sends a new box to the wizard",
           "%s %s" % (r.status, loc))
        r = b.get("/setup")
        ok(r.status == 200 and "Choose the admin password" in b.body, "the wizard page loads",
           b.body[:500])
        steps = [
            ({"step": "1", "password": ADMIN_PW, "password2": ADMIN_PW}, "/setup?step=2"),
            ({"step": "2", "domain": "example.org", "hostname": ""}, "/setup?step=3"),
            ({"step": "3"}, "/setup?step=4"),
            ({"step": "4", "mode": "auto"}, "/setup?step=5"),
            ({"step": "5"}, "/setup?step=6"),
        ]
        done = True
        for fields, want in steps:
            r = b.post("/setup", fields)
            loc = r.getheader("Location")
            if r.status not in (302, 303) or loc != want:
                done = ok(False, "wizard step %s" % fields["step"], "%s %s\n%s" % (r.status, loc, b.body[-1500:]))
                break
            b.get(want)
        if done:
            r = b.post("/setup", {"step": "6", "action": "add", "local": "alice", "password": MAIL_PW})
            done = ok(r.status == 200 and "Mailbox added." in b.body, "the wizard adds alice@example.org",
                      "%s\n%s" % (r.status, b.body[-1500:]))
        if done:
            for step, want in (("6", "/setup?step=7"), ("7", "/setup?step=8"), ("8", "/admin")):
                r = b.post("/setup", {"step": step})
                loc = r.getheader("Location")
                if r.status not in (302, 303) or loc != want:
                    done = ok(False, "wizard step %s" % step, "%s %s\n%s" % (r.status, loc, b.body[-1500:]))
                    break
                if want != "/admin":
                    b.get(want)
        ok(done, "the wizard is completed over HTTP (password, domain, network, route, DNS, "
           "mailbox, certificate, phone)")
        r = Browser().get("/")
        loc = r.getheader("Location") or ""
        ok(r.status in (301, 302, 303, 307, 308) and "/setup" not in loc,
           "after set-up / no longer leads to the wizard", "%s %s" % (r.status, loc))
        rc, out = ssh("/usr/lib/loft-image/led.sh auto; cat /run/loft-led.state")
        ok(rc == 0 and out.strip().endswith("running"), "the LED state says running", out)

    # --- mail in, read back ---------------------------------------------
    subject = "image test %d" % int(time.time())
    try:
        with smtplib.SMTP("127.0.0.1", ports[25], timeout=120) as s:
            s.ehlo("mx.example.net")
            s.sendmail("someone@example.net", ["alice@example.org"],
                       ("From: someone@example.net\r\nTo: alice@example.org\r\n"
                        "Subject: %s\r\n\r\nSent to the box on its MX port.\r\n" % subject).encode())
        sent = True
    except Exception as e:  # noqa: BLE001 - shown as the failure
        sent = repr(e)
    ok(sent is True, "a message to alice@example.org is accepted on the MX port (25)", sent)
    try:
        got = read_back(subject)
    except Exception as e:  # noqa: BLE001
        got = repr(e)
    ok(got and "Sent to the box on its MX port." in got, "it is read back over IMAP (143, STARTTLS)", got)

    # --- a reboot keeps the mail ----------------------------------------
    rc, first = ssh("cat /var/lib/loft-image/firstboot-done")
    try:
        ssh("systemctl reboot", timeout=30)
    except subprocess.TimeoutExpired:
        pass  # the connection may hang while the box goes down
    time.sleep(20)
    t1 = time.time()
    up = wait_ssh(BOOT_TIMEOUT)
    ok(up, "the box comes back after a reboot (%ds)" % (time.time() - t1), console_tail())
    if up:
        rc, again = ssh("cat /var/lib/loft-image/firstboot-done; systemctl is-active loft")
        ok(rc == 0 and again.split()[0] == first.strip() and again.split()[1] == "active",
           "first boot did not run again; loft is active", again)
        got = None
        end = time.time() + 300
        while time.time() < end:
            try:
                got = read_back(subject)
                break
            except Exception as e:  # noqa: BLE001 - loft may still be starting
                got = repr(e)
                time.sleep(5)
        ok(got and "Sent to the box on its MX port." in got, "the message is still there after the reboot", got)
        if have_admin:
            rc, out = ssh("/usr/lib/loft-image/led.sh auto; cat /run/loft-led.state")
            ok(rc == 0 and out.strip().endswith("running"), "the LED state says running after the reboot", out)
except SystemExit:
    pass
except Exception as e:  # noqa: BLE001 - an unexpected error is a failure too
    import traceback
    ok(False, "image-test stopped by an error", traceback.format_exc())
finally:
    stop_guest()

for g in gaps:
    print("image-test: KNOWN GAP: " + g)
say("done; console log in %s" % console)
print("image-test: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
