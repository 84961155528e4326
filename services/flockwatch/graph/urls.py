"""URL keys for co-link coordination: extraction from text, canonical form, shortener flag.

The toolkit compares URLs as raw strings (``compute_co_link_network`` with ``resolved=False``); that is what
``flockwatch graph coordination --kind co_link`` does by default so its users get the same network.
:func:`canonicalize_url` is the stricter key the product uses (``--canonical-urls``): two links that
differ only in tracking parameters, letter case of scheme/host, default port, fragment, trailing ``/`` or
query order count as one object.  Shorteners (t.co, bit.ly, ...) cannot be resolved offline: they are kept
as they are and flagged with :func:`is_shortener`, because two distinct short links may hide one target and
one short link may be reused for several (so their co-link edges are weaker evidence).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

SHORTENERS = frozenset(
    {
        "bit.ly", "bitly.com", "buff.ly", "dlvr.it", "fb.me", "goo.gl", "ift.tt", "is.gd", "j.mp",
        "lnkd.in", "ow.ly", "rb.gy", "shar.es", "t.co", "t.ly", "tiny.cc", "tinyurl.com", "trib.al",
        "wp.me", "youtu.be", "amzn.to", "cutt.ly", "bl.ink", "shorturl.at", "po.st", "su.pr", "v.gd",
        "x.co", "qr.ae", "mol.im", "nyti.ms", "wapo.st", "reut.rs", "bbc.in", "cnn.it", "apne.ws",
    }
)  # fmt: skip

# Query parameters that only track the click (utm_*, ad click ids, social referrers).
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "vero_", "oly_")
_TRACKING_KEYS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "mkt_tok", "_hsenc", "_hsmi",
        "ref_src", "ref_url", "cmpid", "s_cid", "ncid", "ocid", "twclid", "wt.mc_id", "_ga", "_gl",
        "spm", "si", "feature", "smid",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": "80", "https": "443"}

# URLs inside free text: scheme-ful links and bare www. links; trailing punctuation is not part of them.
_URL_IN_TEXT = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'`]+")
_TRAILING = ".,;:!?)]}»”’…"


def extract_urls(text: str) -> list[str]:
    """URLs in ``text`` in order of appearance, trailing punctuation and unbalanced ``)`` removed.

    A link cut off by truncation (``https://t.`` or ``https://t.co/…``) is still returned as written: it
    is a real (if useless) token and dropping it silently would hide data loss.
    """
    out: list[str] = []
    for match in _URL_IN_TEXT.finditer(text):
        url = match.group(0)
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if url:
            out.append(url)
    return out


def _host_of(url: str) -> str:
    try:
        parts = urlsplit(url if "://" in url else "http://" + url)
        return (parts.hostname or "").lower()
    except ValueError:
        return ""


def is_shortener(url: str) -> bool:
    """True when the link's host is a known URL shortener (its target is unknown without resolving)."""
    host = _host_of(url)
    return host.removeprefix("www.") in SHORTENERS


def _is_tracking(key: str) -> bool:
    k = key.lower()
    return k in _TRACKING_KEYS or k.startswith(_TRACKING_PREFIXES)


def canonicalize_url(url: str) -> str:
    """A canonical key for ``url``; never raises (a string that is not a URL comes back stripped).

    ``scheme://host[:port]/path?query``: scheme and host lowercased (``www.`` kept: it may be a different
    site), default ports and userinfo dropped, ``http`` mapped to ``https``, percent-encoding normalised,
    empty path and trailing ``/`` removed, fragment dropped, tracking parameters (``utm_*``, ``fbclid``,
    ``gclid``...) removed, remaining parameters sorted.
    Idempotent: ``canonicalize_url(canonicalize_url(u)) == canonicalize_url(u)``.
    """
    raw = url.strip()
    if not raw:
        return ""
    candidate = raw if "://" in raw else ("http://" + raw if raw.lower().startswith("www.") else raw)
    try:
        parts = urlsplit(candidate)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return raw
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return raw
    host = host.lower().rstrip(".")
    netloc = host
    if port is not None and str(port) not in _DEFAULT_PORTS.values():
        netloc = f"{host}:{port}"
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~")
    while path.endswith("/"):
        path = path[:-1]
    query_pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    query = urlencode(sorted(query_pairs), quote_via=quote)
    return urlunsplit(("https", netloc, path, query, ""))
