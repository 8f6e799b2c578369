#!/usr/bin/env python3
"""filter_ref.py - an independent computation of `crawlset filter`'s default
chain (url, text, dedupe) over JSON Lines, for tests/filter/test_filter.c:
the chain stops at the first filter that drops a row (a filter's "in" is
the rows that reached it), or with --all-filters runs every filter on every
row.

Python standard library only (json, urllib.parse, unicodedata, re): the
C code uses its own JSON scanner, RFC 3986 splitter, GLib's Unicode tables
and PCRE2. Prints {"items","kept","filters":{name:{"in","out","reasons"}}}.

usage: filter_ref.py PLACEHOLDER_WORDS_FILE [--block DOMAIN]... [--all-filters] < rows.jsonl
"""
import json
import re
import sys
import unicodedata
from urllib.parse import urlsplit

words_file = sys.argv[1]
block = []
all_filters = False
args = sys.argv[2:]
while args:
    if args[0] == "--all-filters":
        all_filters = True
        args = args[1:]
    elif args[0] == "--block":
        block.append(args[1].lower().lstrip("."))
        args = args[2:]
    else:
        sys.exit("unknown argument " + args[0])

PLACEHOLDERS = set()
for line in open(words_file, encoding="utf-8"):
    line = line.strip()
    if line and not line.startswith("#"):
        PLACEHOLDERS.add(line.lower())

FILENAME = re.compile(
    r"^(?:[^\s/\\]{1,200}\.(?:jpe?g|jfif|png|gif|webp|bmp|svg|tiff?|heic|avif|ico)"
    r"|(?:img|dsc|dscn|dscf|dcim|pxl|mvimg|image|photo|pic|screenshot|scan|gopr|sam|wp)"
    r"[-_ ]?\d{3,}[\w-]*"
    r"|[0-9a-f]{8,}(?:[-_][0-9a-f]+)*)$", re.I)
LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def normalize(s):
    s = unicodedata.normalize("NFKC", s)
    out, space = [], False
    for ch in s:
        cat = unicodedata.category(ch)
        if ch in " \t\n\v\f\r" or cat in ("Zs", "Zl", "Zp") or ch == "\u200b":
            space = True
            continue
        if cat in ("Cc", "Cf"):
            continue
        if space and out:
            out.append(" ")
        space = False
        out.append(ch)
    return "".join(out)


def host_ok(h):
    if h.startswith("["):
        return re.fullmatch(r"\[[0-9a-f:.]+\]", h) is not None
    if h.endswith("."):
        h = h[:-1]
    if not h:
        return False
    if not h.isascii():
        try:
            h = h.encode("idna").decode()
        except Exception:
            return False
    return all(LABEL.match(l) for l in h.split("."))


def url_reason(url):
    if not url:
        return "no_url"
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", url)
    if not m:
        return "no_scheme"
    scheme = m.group(1).lower()
    why = None
    if scheme not in ("http", "https"):
        why = {"data": "data_url", "javascript": "javascript_url",
               "mailto": "mailto_url"}.get(scheme, "scheme")
    if why is None and len(url.encode()) > 2048:
        why = "url_too_long"
    rest = url[len(m.group(0)):]
    if not rest.startswith("//"):
        return why or "no_host"
    auth = re.match(r"^//([^/?#]*)", rest).group(1)
    host = auth.rsplit("@", 1)[-1]
    if host.startswith("["):
        host = host[:host.index("]") + 1] if "]" in host else host
    else:
        host = host.split(":", 1)[0]
    host = host.lower()
    hr = None
    if not host:
        hr = "no_host"
    elif len(host.encode()) > 60:
        hr = "host_too_long"
    elif not host_ok(host):
        hr = "bad_host"
    elif block:
        parts = host.split(".")
        if any(".".join(parts[i:]) in block for i in range(len(parts))):
            hr = "blocked_domain"
    why = why or hr
    if why is None:
        path = urlsplit(url).path
        seg = path.rsplit("/", 1)[-1]
        if "." in seg and seg.rsplit(".", 1)[1].lower() in ("svg", "gif", "ico"):
            return "extension"
    return why


def text_reason(text):
    if text is None:
        return "no_text", ""
    t = normalize(text)
    if len(t) > 2000:
        t = t[:2000]
    if len(t) < 5:
        return "too_short", t
    stripped = t.rstrip("0123456789 _-.#").lower()
    if not stripped or (len(stripped) <= 40 and stripped in PLACEHOLDERS):
        return "placeholder", t
    if len(t.encode()) <= 256 and FILENAME.match(t):
        return "filename_like", t
    return None, t


def dedupe_key(url, text):
    u = url.split("#", 1)[0] if url else ""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*:(?://[^/?#]*)?)", u)
    if m:
        u = m.group(1).lower() + u[len(m.group(1)):]
    return u + "\n" + text


stats = {n: {"in": 0, "out": 0, "reasons": {}} for n in ("url", "text", "dedupe")}
seen = set()
items = kept = 0
for raw in sys.stdin.buffer:
    line = raw.decode("utf-8", "replace").strip()
    if not line:
        continue
    row = json.loads(line)
    url = row.get("url")
    text = None
    for k in ("alt", "caption", "text"):
        if isinstance(row.get(k), str):
            text = row[k]
            break
    items += 1
    ok = True
    norm = None

    def run_url():
        return url_reason(url)

    def run_text():
        global norm
        r, norm = text_reason(text)
        return r

    def run_dedupe():
        key = dedupe_key(url, norm)
        r = "duplicate" if key in seen else None
        seen.add(key)
        return r

    for name, fn in (("url", run_url), ("text", run_text), ("dedupe", run_dedupe)):
        r = fn()
        s = stats[name]
        s["in"] += 1
        if r is None:
            s["out"] += 1
        else:
            ok = False
            s["reasons"][r] = s["reasons"].get(r, 0) + 1
            if not all_filters:
                break
    kept += ok
print(json.dumps({"items": items, "kept": kept, "filters": stats}, sort_keys=True))
