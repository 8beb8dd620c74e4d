"""The search index merges a little in every commit (migrations 14 and
15, lib/store/store.c): FTS5's crisismerge, the level size at which a
whole level is merged inside one writing transaction, is 64, four times
automerge (16), so merges of 16 segments run incrementally (migration 15
made the index again, with the same settings).  With both at
16 a commit now and then merged most of the index (seconds), and
loft-smtpd killed every second never finished one
(tests/bench/bench_kill_vs_postfix.py stalled for good)."""
import sqlite3
import subprocess

from loftenv import binary


def config(path):
    c = sqlite3.connect(path)
    try:
        return ({k: v for k, v in c.execute("SELECT k, v FROM fts_config")},
                c.execute("PRAGMA user_version").fetchone()[0])
    finally:
        c.close()


def ctl(data, *args):
    subprocess.run([binary("loftctl"), "-d", data] + list(args), check=True,
                   capture_output=True, timeout=60)


def test_new_database(tmp_path):
    data = str(tmp_path)
    ctl(data, "init")
    fts, version = config(data + "/loft.db")
    assert version >= 15
    assert fts.get("crisismerge") == 64 and fts.get("automerge") == 16, fts
