#!/usr/bin/env python3
"""Compares `kd-readbench dump` output with `reference.py` output (JSON lines).

usage: compare.py SWIFT.jsonl PYTHON.jsonl
Checks per document, in order: id, title, section count, section headings,
labels and texts (whitespace-insensitive), and the label sets the reference
emits. Prints mismatches and a summary; exits 1 when any field differs.
"""
import json
import sys


def norm(t):
    return " ".join((t or "").split())


def main(a, b):
    sw = [json.loads(l) for l in open(a)]
    py = [json.loads(l) for l in open(b)]
    bad = 0
    if len(sw) != len(py):
        print(f"event count differs: swift {len(sw)} python {len(py)}")
        bad += 1
    for i, (s, p) in enumerate(zip(sw, py)):
        where = f"{p.get('file')}#{i} id={p.get('id') or p.get('delete')}"
        if "delete" in p:
            if s.get("delete") != p["delete"]:
                print(where, "delete differs", s.get("delete"))
                bad += 1
            continue
        for key in ("id", "title"):
            if key in p and p[key] is not None and norm(s.get(key)) != norm(p[key]):
                print(where, key, "swift:", repr(s.get(key))[:120], "python:", repr(p[key])[:120])
                bad += 1
        for task, values in (p.get("labels") or {}).items():
            if (s.get("labels") or {}).get(task) != values:
                print(where, "labels", task, "swift:", (s.get("labels") or {}).get(task), "python:", values)
                bad += 1
        ps, ss = p.get("sections"), s.get("sections") or []
        if ps is None:
            continue
        if len(ps) != len(ss):
            print(where, "section count swift", len(ss), "python", len(ps))
            bad += 1
            continue
        for j, (x, y) in enumerate(zip(ss, ps)):
            for key in ("heading", "label", "identifier", "text"):
                if y.get(key) is not None and norm(x.get(key)) != norm(y.get(key)):
                    print(where, f"section {j} {key}\n   swift:  {norm(x.get(key))[:300]!r}\n   python: {norm(y.get(key))[:300]!r}")
                    bad += 1
    print(f"compared {len(py)} events: {'OK' if bad == 0 else str(bad) + ' differences'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
