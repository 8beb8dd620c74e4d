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
    """A loopback port free for UDP and TCP both (a DNS server binds the
    two; a port free for one may be taken for the other)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no free port")


def reverse4(ip):
    return ".".join(reversed(ip.split(".")))


def reverse6(ip):
    """Reversed nibbles, as DNSBLs and ip6.arpa want them."""
    import ipaddress
    return ".".join(reversed(ipaddress.IPv6Address(ip).exploded.replace(":", "")))


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


class UdpResponder:
    """A UDP server thread on loopback: reply(query) returns the answer's
    bytes (or None for silence); queries counts what came."""

    def __init__(self, sock=None):
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def reply(self, q):
        raise NotImplementedError

    def _serve(self):
        while not self._stop:
            try:
                q, peer = self.sock.recvfrom(512)
            except (socket.timeout, OSError):
                continue
            if len(q) < 2:
                continue
            self.queries += 1
            out = self.reply(q)
            if out is not None:
                self.sock.sendto(out, peer)

    def close(self):
        self._stop = True
        self.sock.close()


def dns_answer_head(q, rcode=0, ancount=0):
    """The header of an answer to query q: QR and AA set, RD kept."""
    head = bytearray(q[:12])
    head[2] = 0x84 | (q[2] & 0x01)
    head[3] = rcode
    head[6:8] = struct.pack("!H", ancount)
    return bytes(head)


class NatPmp(UdpResponder):
    """A NAT-PMP (RFC 6886) responder on 127.R.R.R:5351 (a random loopback
    address, so parallel tests do not meet): answers the public address
    request with wan, and mapping requests per refuse_ports.  mode
    "nonsense" answers every request with junk bytes.  A PCP (RFC 6887,
    version 2) request gets NAT-PMP's "unsupported version" (RFC 6886
    3.5), unless pcp is set: then PCP MAP is served too (pcp="nonsense":
    junk to PCP only).  A PCP mapping belongs to its nonce: another nonce
    may neither renew nor delete it (NOT_AUTHORIZED)."""

    def __init__(self, wan="203.0.113.7", mode="ok", refuse_ports=(), pcp=False):
        self.wan = wan
        self.mode = mode
        self.pcp = pcp
        self.pcp_requests = []  # (client address bytes, nonce, port, lifetime)
        self.pcp_owner = {}  # port -> nonce
        self.refuse_ports = set(refuse_ports)
        self.mapped = {}
        self.deleted = []  # ports whose mapping was deleted (lifetime 0)
        self.start = time.time()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(50):
            self.addr = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255),
                                          random.randint(2, 254))
            try:
                sock.bind((self.addr, 5351))
                break
            except OSError:
                continue
        super().__init__(sock)

    def reply(self, data):
        epoch = int(time.time() - self.start) + 1
        if self.mode == "nonsense":
            return b"\x07\x99garbage!"
        if len(data) >= 1 and data[0] == 2:
            if not self.pcp:
                return struct.pack("!BBHI", 0, 128, 1, epoch)
            if self.pcp == "nonsense":
                return b"\x02\x81\x00\x00" + b"\xff" * 21
            return self.pcp_reply(data, epoch)
        if len(data) >= 2 and data[0] == 0 and data[1] == 0:
            return struct.pack("!BBHI", 0, 128, 0, epoch) + socket.inet_aton(self.wan)
        if len(data) >= 12 and data[0] == 0 and data[1] in (1, 2):
            op, priv, pub, life = struct.unpack("!xBxxHHI", data[:12])
            if life == 0:
                # RFC 6886 3.4: a deletion (the suggested port must be 0)
                if pub != 0:
                    return struct.pack("!BBHIHHI", 0, 128 + op, 1, epoch, priv, 0, 0)
                self.mapped.pop(priv, None)
                self.deleted.append(priv)
                return struct.pack("!BBHIHHI", 0, 128 + op, 0, epoch, priv, 0, 0)
            if priv in self.refuse_ports:
                # result 2: not authorized/refused
                return struct.pack("!BBHIHHI", 0, 128 + op, 2, epoch, priv, 0, 0)
            self.mapped[priv] = life
            return struct.pack("!BBHIHHI", 0, 128 + op, 0, epoch, priv, priv, life)
        return None


def _pcp_reply(self, data, epoch):
    """RFC 6887 MAP: figures 2/3 (headers) and 9 (MAP payload)."""
    if len(data) < 60 or data[1] != 1:
        return struct.pack("!BBxB", 2, 0x80 | (data[1] & 0x7f), 3) + bytes(20)
    life = struct.unpack("!I", data[4:8])[0]
    client, nonce, proto = data[8:24], data[24:36], data[36]
    iport, sport = struct.unpack("!HH", data[40:44])
    self.pcp_requests.append((client, nonce, iport, life))

    def reply(result, rlife, eport):
        return (struct.pack("!BBxBII", 2, 0x81, result, rlife, epoch) + bytes(12) + nonce
                + bytes([proto, 0, 0, 0]) + struct.pack("!HH", iport, eport)
                + bytes(10) + b"\xff\xff" + socket.inet_aton(self.wan))
    owner = self.pcp_owner.get(iport)
    if owner is not None and owner != nonce:
        return reply(2, 0, 0)  # NOT_AUTHORIZED: another client's mapping
    if life == 0:
        self.mapped.pop(iport, None)
        self.pcp_owner.pop(iport, None)
        self.deleted.append(iport)
        return reply(0, 0, 0)
    if iport in self.refuse_ports:
        return reply(2, 0, 0)
    self.mapped[iport] = life
    self.pcp_owner[iport] = nonce
    return reply(0, life, iport)


NatPmp.pcp_reply = _pcp_reply


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
            zen=None, selftest="127.0.0.2", zone_all=None, extra=(), public6=None, zen6=None):
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
        if public6:
            args.append("--address=/myip.opendns.com/%s" % public6)
            if zen6:
                args.append("--address=/%s.%s/%s" % (reverse6(public6), self.ZONE, zen6))
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
        # ready when it answers (a loaded machine may take a while)
        end = time.time() + 60
        while time.time() < end and self.proc.poll() is None:
            if self._answers():
                return
            time.sleep(0.05)
        with open(self.errpath) as f:
            raise AssertionError("dnsmasq did not start: %s\n%s" % (" ".join(args),
                                                                     f.read()[-2000:]))

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

    def igd(self, **kw):
        g = Igd(**kw)
        self.servers.append(g)
        return g

    def chaos(self, **kw):
        c = ChaosTxt(**kw)
        self.servers.append(c)
        return c

    def conf(self, port25=None, router=None, upnp=None, chaos=None, **more):
        """loft.conf lines pointing every probe here."""
        srv = "127.0.0.1:%d" % self.port
        c = {
            "netwatch.opendns_servers": srv,
            "netwatch.opendns6_servers": srv,
            "netwatch.google_servers": srv,
            # dnsmasq serves no CHAOS zone of its own: that method is off
            # unless a ChaosTxt responder stands in
            "netwatch.cloudflare_servers": chaos.server if chaos else "",
            "netwatch.resolver": srv,
            "netwatch.zen_zone": self.ZONE,
            "netwatch.port25_target": port25.target if port25 else "",
            "netwatch.router": router.addr if router else "",
            "netwatch.upnp": upnp.url if upnp else "",
            "netwatch.dns_timeout_ms": "1500",
            "netwatch.port25_timeout_ms": "2000",
            "netwatch.router_timeout_ms": "2000",
        }
        c.update(more)
        return c

    def close(self):
        self.stop_dns()
        for s in self.servers:
            s.close()


class Knot:
    """knotd on a free loopback port, authoritative for ZONE, accepting
    RFC 2136 updates signed with a TSIG key (hmac-sha256)."""

    ZONE = "home.example"
    KEY = "loft-key"

    def __init__(self, tmpdir, secret=None):
        import base64
        self.dir = os.path.join(str(tmpdir), "knot")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_udp_port()
        self.secret = secret or base64.b64encode(os.urandom(32)).decode()
        with open(os.path.join(self.dir, "%s.zone" % self.ZONE), "w") as f:
            f.write("$ORIGIN %s.\n$TTL 300\n"
                    "@ SOA ns admin 1 3600 600 86400 300\n"
                    "@ NS ns\nns A 127.0.0.1\nbox A 192.0.2.1\n" % self.ZONE)
        conf = os.path.join(self.dir, "knot.conf")
        with open(conf, "w") as f:
            f.write("""server:
    rundir: "{d}"
    listen: 127.0.0.1@{p}
log:
  - target: stderr
    any: info
database:
    storage: "{d}"
key:
  - id: {k}
    algorithm: hmac-sha256
    secret: {s}
acl:
  - id: update_acl
    key: {k}
    action: update
zone:
  - domain: {z}
    storage: "{d}"
    file: "{z}.zone"
    acl: update_acl
""".format(d=self.dir, p=self.port, k=self.KEY, s=self.secret, z=self.ZONE))
        self.log = open(os.path.join(self.dir, "knotd.log"), "ab")
        self.proc = subprocess.Popen(["/usr/sbin/knotd", "-c", conf], stdout=self.log,
                                     stderr=self.log)
        # a loaded machine may take long to start knotd: up to a minute
        end = time.time() + 60
        while time.time() < end and self.proc.poll() is None:
            if self.query("box") == ["192.0.2.1"]:
                return
            time.sleep(0.1)
        self.log.flush()
        raise AssertionError("knotd did not start (exit %r): %s" % (
            self.proc.poll(), open(self.log.name).read()[-2000:]))

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def query(self, name, rtype="A"):
        """The records kdig gets for name.ZONE from this server."""
        p = subprocess.run(["kdig", "@127.0.0.1", "-p", str(self.port), "+short", "+time=1",
                            "+retry=0", "%s.%s" % (name, self.ZONE), rtype],
                           capture_output=True, text=True)
        return sorted(l for l in p.stdout.split() if l and not l.startswith(";"))

    def conf(self, name="box", secret=None):
        return {
            "netwatch.ddns_server": self.server,
            "netwatch.ddns_zone": self.ZONE,
            "netwatch.ddns_name": "%s.%s" % (name, self.ZONE),
            "netwatch.ddns_key_name": self.KEY,
            "netwatch.ddns_key_secret": secret or self.secret,
            "netwatch.ddns_ttl": "60",
        }

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


IGD_DESC = """<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>Loft test IGD</friendlyName>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId>
<controlURL>/ctl/CmnIfCfg</controlURL><eventSubURL>/evt/CmnIfCfg</eventSubURL>
<SCPDURL>/WANCfg.xml</SCPDURL>
</service></serviceList>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL>
<SCPDURL>/WANIPCn.xml</SCPDURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>
"""

SOAP_OK = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
           's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
           '<u:%sResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">%s'
           '</u:%sResponse></s:Body></s:Envelope>')
SOAP_ERR = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault>'
            '<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>'
            '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode>'
            '<errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body>'
            '</s:Envelope>')


class Igd:
    """A UPnP Internet Gateway Device on loopback HTTP: the root description
    and WANIPConnection's AddPortMapping / DeletePortMapping /
    GetExternalIPAddress over SOAP.  refuse_ports get error 718
    (ConflictInMappingEntry); keep_ports refuse deletion (606 Action not
    authorized)."""

    def __init__(self, wan="203.0.113.7", refuse_ports=(), keep_ports=()):
        import http.server
        import re
        igd = self
        self.wan = wan
        self.refuse_ports = set(refuse_ports)
        self.keep_ports = set(keep_ports)
        self.mapped = {}
        self.deleted = []
        self.log = []  # (action, port) in order

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body, ctype="text/xml"):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/rootDesc.xml":
                    self._send(200, IGD_DESC)
                else:
                    self._send(404, "")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                action = (self.headers.get("SOAPAction", "").strip('"').split("#") + [""])[1]

                def arg(name):
                    m = re.search(r"<%s>([^<]*)</%s>" % (name, name), body)
                    return m.group(1) if m else ""
                igd.log.append((action, arg("NewExternalPort")))
                if action == "DeletePortMapping":
                    port = int(arg("NewExternalPort") or 0)
                    if port in igd.keep_ports:
                        self._send(500, SOAP_ERR % (606, "Action not authorized"))
                    elif port not in igd.mapped:
                        self._send(500, SOAP_ERR % (714, "NoSuchEntryInArray"))
                    else:
                        del igd.mapped[port]
                        igd.deleted.append(port)
                        self._send(200, SOAP_OK % (action, "", action))
                    return
                if action == "AddPortMapping":
                    port = int(arg("NewExternalPort") or 0)
                    if port in igd.refuse_ports:
                        self._send(500, SOAP_ERR % (718, "ConflictInMappingEntry"))
                        return
                    igd.mapped[port] = (arg("NewInternalClient"), int(arg("NewInternalPort")),
                                        arg("NewProtocol"), arg("NewLeaseDuration"))
                    self._send(200, SOAP_OK % (action, "", action))
                elif action == "GetExternalIPAddress":
                    self._send(200, SOAP_OK % (action, "<NewExternalIPAddress>%s"
                                               "</NewExternalIPAddress>" % igd.wan, action))
                else:
                    self._send(500, SOAP_ERR % (401, "Invalid Action"))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/rootDesc.xml" % self.port

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ChaosTxt(UdpResponder):
    """What dnsmasq will not do: answer a CHAOS-class TXT query for a name
    of our choosing (Cloudflare's whoami.cloudflare): the TXT is answer
    (None: REFUSED)."""

    def __init__(self, answer="203.0.113.7", name="whoami.cloudflare"):
        self.answer = answer
        self.name = name
        super().__init__()

    def reply(self, q):
        if len(q) < 17:
            return None
        # the question: name, type, class
        i, labels = 12, []
        while i < len(q) and q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace"))
            i += 1 + q[i]
        qend = i + 5
        qtype, qclass = struct.unpack("!HH", q[i + 1:qend])
        if (".".join(labels).lower() != self.name or qtype != 16 or qclass != 3
                or self.answer is None):
            return dns_answer_head(q, rcode=5) + q[12:qend]  # REFUSED
        txt = self.answer.encode()
        rdata = bytes([len(txt)]) + txt
        rr = b"\xc0\x0c" + struct.pack("!HHIH", 16, 3, 0, len(rdata)) + rdata
        return dns_answer_head(q, ancount=1) + q[12:qend] + rr


class BadDns(UdpResponder):
    """A DNS server that answers every query wrongly, by mode: "truncated"
    (the header promises an answer that is not there), "short" (five
    bytes), "overrun" (an answer whose RDLENGTH runs past the packet),
    "loop" (a name compression pointer pointing at itself)."""

    def __init__(self, mode):
        self.mode = mode
        super().__init__()

    def reply(self, q):
        if len(q) < 12:
            return None
        head = dns_answer_head(q, ancount=1)
        if self.mode == "short":
            return head[:5]
        if self.mode == "truncated":
            return head + q[12:]
        if self.mode == "overrun":
            return head + q[12:] + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 400) + b"\x01\x02"
        # loop: the answer's name points at itself
        return (head + q[12:] + b"\xc0" + bytes([len(q)]) + struct.pack("!HHIH", 1, 1, 60, 4)
                + b"\x01\x02\x03\x04")


class DynDns2:
    """A dyndns2 provider on loopback HTTPS (certificate from a test CA):
    /nic/update with Basic auth; records each (hostname, myip) it accepts.
    answer: None = "good IP" / "nochg IP" as a real provider says; else
    that body."""

    def __init__(self, ssl_ctx, user="loftuser", password="loftpw", answer=None):
        import base64
        import http.server
        import urllib.parse
        dd = self
        self.updates = []
        self.requests = 0
        self.answer = answer
        self.current = {}
        want = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                dd.requests += 1
                u = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(u.query)
                if self.headers.get("Authorization") != want:
                    self._send(401, "badauth")
                    return
                if u.path != "/nic/update" or "hostname" not in q or "myip" not in q:
                    self._send(400, "badsys")
                    return
                if dd.answer is not None:
                    self._send(200, dd.answer)
                    return
                host, ip = q["hostname"][0], q["myip"][0]
                if dd.current.get(host) == ip:
                    self._send(200, "nochg %s" % ip)
                    return
                dd.current[host] = ip
                dd.updates.append((host, ip))
                self._send(200, "good %s" % ip)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.socket = ssl_ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
