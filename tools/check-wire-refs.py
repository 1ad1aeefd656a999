#!/usr/bin/env python3
"""Checks that every section of docs/wire.md that the repository cites
exists: `docs/wire.md §2.3`, `docs/wire.md §2.1, §2.2`, `docs/wire.md
§2.1–2.3` (a range: both ends), `docs/wire.md §7, item 20`. A citation may
wrap onto the next comment line. Also fails on a leftover citation of the
old name, "SP-WIRE". Exits 1 and lists what does not resolve."""
import os
import re
import subprocess
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

with open("docs/wire.md", encoding="utf-8") as f:
    doc = f.read()
sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", doc, re.M))
# The numbered checklist of §7: "1. **...", "20. **...".
part7 = doc.split("\n## 7.", 1)[1].split("\n## ", 1)[0] if "\n## 7." in doc else ""
items7 = set(re.findall(r"^(\d+)\. \*\*", part7, re.M))

files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                       capture_output=True, text=True, check=True).stdout.split()
# Joins a comment that wraps: "... (docs/wire.md\n/// §4.0)" reads as one line.
WRAP = re.compile(r"\n[ \t]*(?://[/!]?|#|\*)?[ \t]*")
CITE = re.compile(r"docs/wire\.md((?:(?:\s*,\s*|\s+and\s+|\s+)§\d+(?:\.\d+)?(?:[–-]\d+(?:\.\d+)?)?(?:, item \d+)?)+)")
REF = re.compile(r"§(\d+(?:\.\d+)?)(?:[–-](\d+(?:\.\d+)?))?(?:, item (\d+))?")

bad, seen = [], 0
for path in files:
    if path == "docs/wire.md" or path.startswith(("target/", "tools/check-wire-refs.py")):
        continue
    if not path.endswith((".rs", ".md", ".py", ".sh", ".mjs", ".js", ".ts", ".toml", ".c")):
        continue
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        continue
    if "SP-WIRE" in text:
        bad.append(f"{path}: cites SP-WIRE (the reference is docs/wire.md now)")
    joined = WRAP.sub(" ", text)
    for m in CITE.finditer(joined):
        for r in REF.finditer(m.group(1)):
            start, end, item = r.group(1), r.group(2), r.group(3)
            seen += 1
            for s in [start] + ([end] if end else []):
                if s not in sections:
                    bad.append(f"{path}: docs/wire.md §{s} does not exist")
            if item and (start != "7" or item not in items7):
                bad.append(f"{path}: docs/wire.md §{start}, item {item} does not exist")

for b in bad:
    print(b)
print(f"{seen} citations of docs/wire.md checked, {len(bad)} problems")
sys.exit(1 if bad else 0)
