"""The outside world loft-netwatch probes, on loopback: dnsmasq serving the
reflection names (OpenDNS, Google), PTRs and a test ZEN zone; mail servers
for the port 25 probe (one that answers, one that drops, one that refuses,
one that talks nonsense); a NAT-PMP responder standing in for the router.

    net = LoopNet(tmp_path)
    net.dns(public="203.0.113.7", ptr="mail.example.net")
    loft = Loft(tmp_path, conf=net.conf())
"""
import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reverse4(ip):
    return ".".join(reversed(ip.split(".")))


class Port25:
    """A TCP server on a free loopback port: mode "banner" (220 greeting,
    waits for QUIT), "garbage" (an HTTP error, then close), "refuse"
    (nothing listens: connection refused), "drop" (a listener whose accept
    queue is full, so SYNs go unanswered: the connect times out)."""

    def __init__(self, mode="banner"):
        self.mode = mode
        self.quits = 0
        self.connections = 0
        self._stop = False
        self._fill = []
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        if mode == "refuse":
            s.close()
            self.sock = None
            return
        if mode == "drop":
            s.listen(0)
            # fill the accept queue; the kernel then drops new SYNs
            for _ in range(3):
                c = socket.socket()
                c.setblocking(False)
                try:
                    c.connect(("127.0.0.1", self.port))
                except BlockingIOError:
                    pass
                self._fill.append(c)
            time.sleep(0.2)
            self.sock = s
            return
        s.listen(16)
        s.settimeout(0.2)
        self.sock = s
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def _serve(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            try:
                c.settimeout(5)
                if self.mode == "banner":
                    c.sendall(b"220 mx.remote.test ESMTP ready\r\n")
                    data = c.recv(100)
                    if data.upper().startswith(b"QUIT"):
                        self.quits += 1
                        c.sendall(b"221 bye\r\n")
                else:
                    c.sendall(b"HTTP/1.1 400 Bad Request\r\n\x00\xff\r\n")
            except OSError:
                pass
            c.close()

    def close(self):
        self._stop = True
        for c in self._fill:
            c.close()
        if self.sock:
            self.sock.close()


class NatPmp:
    """A NAT-PMP (RFC 6886) responder on 127.R.R.R:5351 (a random loopback
    address, so parallel tests do not meet): answers the public address
    request with wan, and mapping requests per refuse_ports.  mode
    "nonsense" answers every request with junk bytes."""

    def __init__(self, wan="203.0.113.7", mode="ok", refuse_ports=()):
        self.wan = wan
        self.mode = mode
        self.refuse_ports = set(refuse_ports)
        self.mapped = {}
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(50):
            self.addr = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255),
                                          random.randint(2, 254))
            try:
                self.sock.bind((self.addr, 5351))
                break
            except OSError:
                continue
        self.sock.settimeout(0.2)
        self._stop = False
        self.start = time.time()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(64)
            except (socket.timeout, OSError):
                continue
            self.requests += 1
            epoch = int(time.time() - self.start) + 1
            if self.mode == "nonsense":
                self.sock.sendto(b"\x07\x99garbage!", peer)
                continue
            if len(data) >= 2 and data[0] == 0 and data[1] == 0:
                addr = socket.inet_aton(self.wan)
                self.sock.sendto(struct.pack("!BBHI", 0, 128, 0, epoch) + addr, peer)
            elif len(data) >= 12 and data[0] == 0 and data[1] in (1, 2):
                op, priv, pub, life = struct.unpack("!xBxxHHI", data[:12])
                if priv in self.refuse_ports:
                    # result 2: not authorized/refused
                    self.sock.sendto(struct.pack("!BBHIHHI", 0, 128 + op, 2, epoch, priv, 0, 0),
                                     peer)
                else:
                    self.mapped[priv] = life
                    self.sock.sendto(struct.pack("!BBHIHHI", 0, 128 + op, 0, epoch, priv, priv,
                                                 life), peer)

    def close(self):
        self._stop = True
        self.sock.close()


class LoopNet:
    """One dnsmasq on a free loopback port playing every DNS server netwatch
    asks (OpenDNS, Google's authoritative servers, the local resolver with
    the ZEN zone).  dns() (re)starts it with the answers of a scenario."""

    ZONE = "zen.test"

    def __init__(self, tmpdir):
        self.tmpdir = str(tmpdir)
        self.port = free_udp_port()
        self.proc = None
        self.servers = []

    def dns(self, public="203.0.113.7", google=None, ptr="mail.example.net", fwd=None,
            zen=None, selftest="127.0.0.2", zone_all=None, extra=()):
        """public: what OpenDNS says; google: what Google says (default the
        same; "" none); ptr: the PTR name of public (None: no PTR); fwd: what
        the PTR name resolves to (default public); zen: the ZEN answer for
        public (None: NXDOMAIN); zone_all: one answer for every name in the
        zone (a refused resolver)."""
        self.stop_dns()
        args = ["/usr/sbin/dnsmasq", "--no-daemon", "--port=%d" % self.port,
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                "--no-hosts", "--conf-file=/dev/null", "--user=root", "--group=root",
                "--no-negcache", "--cache-size=0",
                "--local=/opendns.com/", "--local=/google.com/", "--local=/%s/" % self.ZONE,
                "--local=/example.net/", "--local=/in-addr.arpa/", "--local=/ip6.arpa/",
                "--local=/remote.test/"]
        if public:
            args.append("--address=/myip.opendns.com/%s" % public)
        g = public if google is None else google
        if g:
            args.append("--txt-record=o-o.myaddr.l.google.com,%s" % g)
        if public and ptr:
            args.append("--ptr-record=%s.in-addr.arpa,%s" % (reverse4(public), ptr))
            args.append("--address=/%s/%s" % (ptr, fwd or public))
        if zone_all:
            args.append("--address=/%s/%s" % (self.ZONE, zone_all))
        else:
            if selftest:
                args.append("--address=/2.0.0.127.%s/%s" % (self.ZONE, selftest))
            if public and zen:
                args.append("--address=/%s.%s/%s" % (reverse4(public), self.ZONE, zen))
        args.extend(extra)
        self.errpath = "%s/dnsmasq.err" % self.tmpdir
        with open(self.errpath, "ab") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        # ready when it answers
        end = time.time() + 10
        while time.time() < end:
            if self._answers():
                return
            time.sleep(0.05)
        with open(self.errpath) as f:
            raise AssertionError("dnsmasq did not start: %s\n%s" % (" ".join(args), f.read()[-2000:]))

    def _answers(self):
        q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
        q += b"".join(bytes([len(l)]) + l.encode() for l in "x.remote.test".split(".")) + b"\0"
        q += struct.pack("!HH", 1, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                return len(s.recv(512)) >= 12
            except OSError:
                return False

    def stop_dns(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None

    def port25(self, mode="banner"):
        s = Port25(mode)
        self.servers.append(s)
        return s

    def natpmp(self, **kw):
        r = NatPmp(**kw)
        self.servers.append(r)
        return r

    def conf(self, port25=None, router=None, **more):
        """loft.conf lines pointing every probe here."""
        srv = "127.0.0.1:%d" % self.port
        c = {
            "netwatch.opendns_servers": srv,
            "netwatch.google_servers": srv,
            # dnsmasq serves no CHAOS zone of its own: that method is off
            "netwatch.cloudflare_servers": "",
            "netwatch.resolver": srv,
            "netwatch.zen_zone": self.ZONE,
            "netwatch.port25_target": port25.target if port25 else "",
            "netwatch.router": router.addr if router else "",
            "netwatch.dns_timeout_ms": "500",
            "netwatch.port25_timeout_ms": "1500",
            "netwatch.router_timeout_ms": "1500",
        }
        c.update(more)
        return c

    def close(self):
        self.stop_dns()
        for s in self.servers:
            s.close()
