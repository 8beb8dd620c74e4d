"""LIST and hierarchy gaps: a level that does not exist but has mailboxes
below it is listed \\Noselect (RFC 3501 6.3.8) or, in an extended LIST,
\\NonExistent (RFC 5258), never with a STATUS, and never for a
SUBSCRIBED or SPECIAL-USE selection."""

import pytest

from loft_imap_helpers import PASS, USER, finish, imap_ssl, start_loft


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    lf = start_loft(tmp_path_factory.mktemp("list"), {USER: PASS})
    c = imap_ssl(lf)
    assert c.create("top/mid/leaf")[0] == "OK"
    assert c.create("top2")[0] == "OK"
    assert c.create("top2/kid")[0] == "OK"
    # take the levels above the leaf away, whether CREATE made them or not
    c.delete("top/mid")
    c.delete("top")
    c.subscribe("top/mid/leaf")
    yield c
    c.logout()
    finish(lf)


def listing(m, *args):
    typ, dat = m._simple_command("LIST", *args)
    assert typ == "OK", dat
    typ, dat = m._untagged_response(typ, dat, "LIST")
    out = {}
    for l in dat:
        if l is None:
            continue
        attrs, _, name = l.decode().partition(') "/" ')
        out[name.strip('"')] = set(attrs.lstrip("(").split())
    return out


def test_star_lists_missing_levels_noselect(m):
    got = listing(m, '""', '"*"')
    assert got["top/mid/leaf"] == {"\\HasNoChildren"}
    assert got["top"] == {"\\Noselect", "\\HasChildren"}
    assert got["top/mid"] == {"\\Noselect", "\\HasChildren"}
    assert "\\Noselect" not in got["top2"] and "\\HasChildren" in got["top2"]
    names = list(got)
    assert names.index("top") < names.index("top/mid") < names.index("top/mid/leaf")


def test_percent_returns_the_level(m):
    got = listing(m, '""', '"%"')
    assert got["top"] == {"\\Noselect", "\\HasChildren"}
    assert "top/mid" not in got and "top/mid/leaf" not in got
    got = listing(m, '""', '"top/%"')
    assert list(got) == ["top/mid"] and got["top/mid"] == {"\\Noselect", "\\HasChildren"}


def test_extended_list_says_nonexistent(m):
    typ, dat = m._simple_command("LIST", '""', '"top*"', "RETURN", "(CHILDREN STATUS (MESSAGES))")
    assert typ == "OK"
    lists = [l for l in m.untagged_responses.pop("LIST", []) if l]
    status = m.untagged_responses.pop("STATUS", [])
    assert b'(\\NonExistent \\HasChildren) "/" "top"' in lists
    assert b'(\\NonExistent \\HasChildren) "/" "top/mid"' in lists
    # STATUS only for mailboxes that exist
    assert len(status) == 3 and not any(s.startswith(b'"top" ') or s.startswith(b"top ")
                                        for s in status), status


def test_selections_skip_missing_levels(m):
    typ, dat = m._simple_command("LIST", "(SUBSCRIBED)", '""', '"*"')
    assert typ == "OK"
    lists = [l for l in m.untagged_responses.pop("LIST", []) if l]
    assert any(l.endswith(b'"top/mid/leaf"') for l in lists)
    assert not any(l.endswith(b'"top"') or l.endswith(b'"top/mid"') for l in lists)


def test_missing_level_cannot_be_selected(m):
    typ, dat = m.select("top")
    assert typ == "NO"
