#!/usr/bin/env python3
"""Checks the links of the built book (`make docs`): every relative href/src of every
page must name a file of the book, and every #fragment an id on the target page.
Pages outside SUMMARY.md are not built, so a link to one fails here too. External
links (http, https, mailto) are counted, not fetched: the check runs offline.

Usage: check-links.py BOOK_DIR
"""
import html.parser
import os
import sys
import urllib.parse

book = sys.argv[1]


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "name" in a:
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) is not None and tag in ("a", "img", "link", "script"):
                self.links.append(a[key])


pages = {}
for d, _, files in os.walk(book):
    for f in files:
        if f.endswith(".html"):
            p = Page()
            path = os.path.join(d, f)
            p.feed(open(path, encoding="utf-8").read())
            pages[os.path.normpath(path)] = p

errors, external, internal = [], 0, 0
for path, page in sorted(pages.items()):
    for link in page.links:
        u = urllib.parse.urlsplit(link)
        if u.scheme in ("http", "https", "mailto"):
            external += 1
            continue
        if u.scheme:
            errors.append(f"{path}: unexpected link scheme {link}")
            continue
        target = path if not u.path else os.path.normpath(os.path.join(os.path.dirname(path), urllib.parse.unquote(u.path)))
        internal += 1
        if not os.path.exists(target):
            errors.append(f"{path}: broken link {link}")
        elif u.fragment and target in pages and urllib.parse.unquote(u.fragment) not in pages[target].ids:
            errors.append(f"{path}: no #{u.fragment} in {os.path.relpath(target, book)}")

for e in errors:
    print("FAIL:", e, file=sys.stderr)
print(f"{len(pages)} pages, {internal} internal links checked, {external} external links not fetched")
sys.exit(1 if errors else 0)
