#!/usr/bin/python3
"""The house rules of lib/, checked on the sources (and, given object
files, on the calls between them).  Run by `make test` and `make check`.

- lib/ is in rooms by layer: core < net, mail < store < service.  A file
  may include headers of its own room and of the rooms below it; never one
  of a room above, nor of a room on the same floor (net and mail know
  nothing of each other), nor anything of a daemon.
- No circular includes between lib/ files.
- sqlite3.h is included only inside lib/store/ (the one door to the data).
  Tests may open a database file directly to check what the store wrote.
- With --objects DIR (the build's obj/ directory): no two lib/ files call
  each other in a loop, read from the objects' defined and undefined
  symbols (nm), so a loop through a function pointer is not counted but
  every direct call is.

Prints one line per violation and "layers: ok (N files)" when there is
none; exits 1 on any violation.
"""
import argparse
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(TOP, "lib")

# floor of each room: a file may use rooms on lower floors only
FLOORS = {"core": 1, "net": 2, "mail": 2, "store": 3, "service": 4}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def lib_files():
    out = []
    for room in sorted(os.listdir(LIB)):
        d = os.path.join(LIB, room)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith((".c", ".h")):
                out.append((room, name))
    return out


def source_files():
    for root, dirs, files in os.walk(TOP):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.join(root, f)


def find_cycle(graph):
    """Returns one cycle (a list of nodes) of a directed graph, or None."""
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def check_includes(errors):
    files = lib_files()
    where = {}
    for room, name in files:
        if room not in FLOORS:
            errors.append("lib/%s/: a room with no floor in tests/layers.py" % room)
            continue
        if name in where:
            errors.append("%s is in lib/%s and lib/%s: headers keep bare names, so each "
                          "must be unique" % (name, where[name], room))
        where[name] = room
    graph = {}
    for room, name in files:
        path = "lib/%s/%s" % (room, name)
        with open(os.path.join(TOP, path), errors="replace") as f:
            text = f.read()
        for kind, inc in INCLUDE.findall(text):
            if inc == "sqlite3.h" and room != "store":
                errors.append("%s includes sqlite3.h: only lib/store/ may" % path)
            if kind != '"':
                continue
            base = os.path.basename(inc)
            to = where.get(base)
            if to is None:
                errors.append("%s includes \"%s\", which is not in lib/: lib depends on "
                              "nothing outside it" % (path, inc))
                continue
            if to != room and FLOORS.get(to, 0) >= FLOORS.get(room, 0):
                errors.append("%s (lib/%s, floor %d) includes %s of lib/%s (floor %d): "
                              "a room uses only the rooms below it" %
                              (path, room, FLOORS[room], base, to, FLOORS[to]))
            graph.setdefault(path, set()).add("lib/%s/%s" % (to, base))
    cycle = find_cycle(graph)
    if cycle:
        errors.append("circular include: " + " -> ".join(cycle))
    return len(files)


def check_sqlite_outside(errors):
    for path in source_files():
        rel = os.path.relpath(path, TOP)
        if rel.startswith(("lib" + os.sep, "tests" + os.sep)):
            continue
        with open(path, errors="replace") as f:
            for kind, inc in INCLUDE.findall(f.read()):
                if inc == "sqlite3.h":
                    errors.append("%s includes sqlite3.h: all SQL lives in lib/store/" % rel)


def nm_symbols(obj):
    out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDBR":
            defined.add(name)
    return defined, undefined


def check_calls(objdir, errors):
    objs = {}
    for room, name in lib_files():
        if not name.endswith(".c"):
            continue
        o = os.path.join(objdir, "lib", room, name[:-2] + ".o")
        if not os.path.exists(o):
            errors.append("%s: no object file (build first)" % o)
            return
        objs["lib/%s/%s" % (room, name)] = nm_symbols(o)
    owner = {}
    for path, (defined, _) in objs.items():
        for sym in defined:
            owner[sym] = path
    graph = {}
    for path, (_, undefined) in objs.items():
        for sym in undefined:
            to = owner.get(sym)
            if to and to != path:
                graph.setdefault(path, set()).add(to)
    for path, tos in sorted(graph.items()):
        room = path.split("/")[1]
        for to in tos:
            r2 = to.split("/")[1]
            if r2 != room and FLOORS[r2] >= FLOORS[room]:
                errors.append("%s calls into %s: a room calls only the rooms below it" %
                              (path, to))
    cycle = find_cycle(graph)
    if cycle:
        errors.append("files that call each other in a loop: " + " -> ".join(cycle))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", help="the build's obj/ directory: also check calls")
    a = ap.parse_args()
    errors = []
    n = check_includes(errors)
    check_sqlite_outside(errors)
    if a.objects:
        check_calls(a.objects, errors)
    for e in errors:
        print("layers: " + e)
    if errors:
        print("layers: %d violation(s)" % len(errors))
        return 1
    print("layers: ok (%d files%s)" % (n, ", calls checked" if a.objects else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
