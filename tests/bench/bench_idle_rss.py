"""RSS of an idle loftd with every built daemon, after start-up settles."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from loftenv import Loft, binary  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    present = [d for d in ("smtpd", "queue", "imapd", "admin", "netwatch")
               if os.access(binary("loft-" + d), os.X_OK)]
    with tempfile.TemporaryDirectory() as td:
        loft = Loft(td, enable=present)
        loft.start()
        time.sleep(2)
        total = rss_kb(loft.proc.pid)
        print("idle RSS loftd: %d KiB" % total)
        for name, pid in sorted(loft.children().items()):
            r = rss_kb(pid)
            total += r
            print("idle RSS %s: %d KiB" % (name, r))
        print("idle RSS total (loftd + %d daemons): %d KiB" % (len(present), total))
        loft.stop()


if __name__ == "__main__":
    main()
