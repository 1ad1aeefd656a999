#!/usr/bin/env python3
"""Checks that every relative link in the generated docs of our crates
(target/doc/nanosp*) points at a file that exists: rustdoc's own check
does not see a link that breaks when an item is re-exported by another
crate (e.g. nanosp re-exporting the core's types and options table).

Links that rustdoc copies from dependencies' blanket impls (tracing) and
its static files are skipped. Exits 1 and lists the broken links."""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/doc"
# Copied into our pages from tracing's `Instrument`/`WithSubscriber` docs.
FOREIGN = {"super::Span::current()", "crate::Span", "super::Subscriber", "dispatcher"}
broken = []
checked = 0
for page in glob.glob(os.path.join(root, "nanosp*", "**", "*.html"), recursive=True):
    with open(page, errors="ignore") as f:
        html = f.read()
    for href in re.findall(r'href="([^"#?]+)(?:#[^"]*)?"', html):
        if href.startswith(("http:", "https:", "mailto:", "javascript:")):
            continue
        if href.endswith("/") or "static.files" in href or href in FOREIGN:
            continue
        checked += 1
        target = os.path.normpath(os.path.join(os.path.dirname(page), href))
        if not os.path.exists(target):
            broken.append(f"{page}: {href}")
if not checked:
    sys.exit(f"no pages under {root}/nanosp*: build the docs first")
for b in broken:
    print("broken link:", b)
print(f"{checked} links checked, {len(broken)} broken")
sys.exit(1 if broken else 0)
