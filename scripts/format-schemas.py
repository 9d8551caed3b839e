#!/usr/bin/env python3
"""Pretty-prints the tool schemas (src/tools/schemas/*.json) in the one
layout the tree uses, in place: two-space indent, keys in the order written
(the order tools/list serves them in), and any object or array that fits
on one line of WIDTH columns kept on it, so a property reads as one line:

    "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20}

    scripts/format-schemas.py [--check] FILE...

--check changes nothing and exits 1 when a file is not in this layout
(`make format` runs it without). Lists of plain values that do not fit are
filled line by line."""
import json
import sys

WIDTH = 100


def dump(v, indent, lead):
    """v as text at indent; lead: columns already taken on its first line."""
    flat = json.dumps(v, ensure_ascii=False, separators=(", ", ": "))
    if not isinstance(v, (dict, list)) or not v or lead + len(flat) <= WIDTH:
        return flat
    pad = " " * (indent + 2)
    if isinstance(v, dict):
        items = []
        for k, x in v.items():
            key = json.dumps(k, ensure_ascii=False) + ": "
            items.append(pad + key + dump(x, indent + 2, len(pad) + len(key) + 1))
        open_, close = "{", "}"
    elif all(not isinstance(x, (dict, list)) for x in v):
        # a long list of names (required, enum): filled line by line
        lines, line = [], pad
        for x in v:
            word = json.dumps(x, ensure_ascii=False) + ","
            if line != pad and len(line) + 1 + len(word) > WIDTH:
                lines.append(line)
                line = pad
            line += (" " if line != pad else "") + word
        lines.append(line[:-1])
        return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"
    else:
        items = [pad + dump(x, indent + 2, len(pad) + 1) for x in v]
        open_, close = "[", "]"
    return open_ + "\n" + ",\n".join(items) + "\n" + " " * indent + close


def main(argv):
    check = "--check" in argv
    bad = 0
    for path in [a for a in argv if a != "--check"]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        want = dump(json.loads(text), 0, 0) + "\n"
        if text == want:
            continue
        if check:
            print(f"{path}: not formatted (run make format)")
            bad = 1
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(want)
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
