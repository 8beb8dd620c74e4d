"""The DNS records to publish are one list (lib/service/dnsrecs): the web
admin's DNS page and `loftctl dns` show the same records, the A record
carries the public address loft-netwatch found, and the SPF record the
relay's include."""
import html
import os
import re
import sqlite3

from loft_admin_helpers import Browser, admin_loft, wizard_to


def admin_records(b):
    b.get("/admin/dns")
    rows = re.findall(r'<tr><td>([A-Z]+)</td><td><code>([^<]+)</code></td>'
                      r'<td><code id="rec-\d+">([^<]*)</code>', b.body)
    return {(t, html.unescape(n), html.unescape(v)) for t, n, v in rows}


def zone_records(text):
    """Zone-file lines as loftctl prints them: one record per line, or a
    TXT split into quoted strings inside parentheses."""
    recs, comments = set(), []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith(";"):
            comments.append(line)
            continue
        name, rtype, value = re.match(r"(\S+)\.\t+(\S+)\t(.*)$", line).groups()
        if value.startswith("("):
            while not value.rstrip().endswith(")"):
                value += lines[i]
                i += 1
            value = "".join(re.findall(r'"([^"]*)"', value))
        elif rtype == "TXT":
            value = re.fullmatch(r'"(.*)"', value).group(1)
        recs.add((rtype, name, value))
    return recs, comments


def test_admin_and_loftctl_print_the_same_records(tmp_path):
    with admin_loft(tmp_path) as loft:
        loft.start()
        b = Browser(loft)
        wizard_to(b, 3)  # the domain is set
        out = loft.ctl("dns", "example.org").stdout
        recs, comments = zone_records(out)
        # no public address known yet: a comment says what goes there
        assert not any(t == "A" for t, _, _ in recs), out
        assert any("\tA\t<your public IPv4 address>" in c for c in comments), out
        with sqlite3.connect(os.path.join(loft.dir, "loft.db")) as c:
            c.execute("INSERT INTO netwatch_checks VALUES(1, 1700000000, 1700000005, 'timer',"
                      " '198.51.100.7', 'direct', 'clean static address')")
            c.execute("INSERT OR REPLACE INTO settings VALUES('smarthost.host',"
                      " 'smtp.mailgun.org')")
        out = loft.ctl("dns", "example.org").stdout
        recs, comments = zone_records(out)
        web = admin_records(b)
        assert web == recs, (sorted(web ^ recs), out)
        host = next(v for t, n, v in recs if t == "MX")[3:-1]
        assert ("A", host, "198.51.100.7") in recs
        assert ("TXT", "example.org", "v=spf1 mx include:mailgun.org ~all") in recs
        assert any(t == "TXT" and n == "_dmarc.example.org" for t, n, _ in recs)
        key = [v for t, n, v in recs if n.endswith("._domainkey.example.org")]
        assert len(key) == 1 and key[0].startswith("v=DKIM1; k=rsa; p=MII"), key
        # RFC 6186 services, implicit TLS preferred (RFC 8314)
        srv = {n.split(".")[0]: v for t, n, v in recs if t == "SRV"}
        assert srv == {"_imaps": "0 1 993 %s." % host, "_imap": "10 1 143 %s." % host,
                       "_submissions": "0 1 465 %s." % host,
                       "_submission": "10 1 587 %s." % host,
                       "_pop3s": "0 1 995 %s." % host}, srv
        assert ("CNAME", "autoconfig.example.org", host + ".") in recs
        # a relay that is no known preset: no include, and loftctl says so
        with sqlite3.connect(os.path.join(loft.dir, "loft.db")) as c:
            c.execute("INSERT OR REPLACE INTO settings VALUES('smarthost.host',"
                      " 'relay.isp.example')")
        out = loft.ctl("dns", "example.org").stdout
        recs, comments = zone_records(out)
        assert ("TXT", "example.org", "v=spf1 mx ~all") in recs
        assert any("relay.isp.example is not a known preset" in c for c in comments), out
        assert admin_records(b) == recs
