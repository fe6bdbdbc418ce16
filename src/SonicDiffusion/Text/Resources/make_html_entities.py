#!/usr/bin/python3
"""Writes html_entities.json.gz: the named HTML entities that ftfy 6.x `unescape_html` decodes.

Table = every HTML5 entity name that ends with ';' (Python's html.entities.html5), plus the all-caps
spelling of each lower-case name when that spelling is not itself an entity (ftfy decodes e.g. '&NTILDE;'
as 'Ñ'); the value of an all-caps spelling is the upper-cased character(s). Keys include '&' and ';'.
Run with Debian's /usr/bin/python3 (3.11): python3 make_html_entities.py
"""
import gzip
import html
import html.entities
import json

entities = {}
for name, char in html.entities.html5.items():
    if name.endswith(";"):
        entities["&" + name] = char
        if name == name.lower():
            upper = "&" + name.upper()
            if html.unescape(upper) == upper:
                entities[upper] = char.upper()

data = (json.dumps(entities, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
with open("html_entities.json.gz", "wb") as f:
    with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
        gz.write(data)
print(len(entities), "entities")
