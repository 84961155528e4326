"""Author ids as the researcher role may see them: every account field of every document replaced by its pseudonym.

``pseudonymise`` maps an **account key** (``platform:author_id``, the key the graph and text stages use) to a stable
pseudonym (the API's :func:`flockwatch.api.access.pseudonym` under a secret). The functions here apply it to the
store documents each export takes, so every format (GEXF, GraphML, CSV, JSONL, Parquet, STIX, bundles) sees the same
rewritten documents. Handles and display names name a person as surely as an id, so they are **dropped**, never
pseudonymised.

Fields rewritten, per document kind (all else is kept as stored; post keys ``platform:post_id`` are post ids, not
author ids, and stay):

* **posts**: ``author`` → ``{"id": pseudonym}`` (handle, display name, counts, category dropped); ``account_key``;
  ``mentions`` (each as ``platform:mention``).
* **accounts**: ``key``; ``partners``; the keys of ``partner_kinds``; ``handle`` dropped.
* **coordination_edges**: ``source``, ``target``; ``edge_id`` rebuilt from them (``kind|source|target``); URLs in
  the shared objects (:func:`edge_urls`).
* **clusters**, **narratives**: ``accounts``; URLs in a cluster's shared objects (:func:`cluster_urls`).
* **cascades**: the account (4th item) of each ``events`` row; the accounts named by ``resharer_history`` and
  ``early_resharer_history`` (their explanation re-rendered).
* **alerts**: an ``author:``/``account:`` ``entity`` and evidence ``on`` (``author:platform:id``).
* **alerts**, **notes** and every other text: :class:`Scrubber` replaces each known account key, ``@handle`` and
  ``@author_id`` that occurs as a whole token (alert summaries say ``by @handle``).

A post's own ``text`` is content and is kept (as the API shows it to researchers); the scrubber is applied to it too,
so a post quoting a known account key or ``@handle`` of an account in the export does not leak it.

**URLs** name accounts too (``https://twitter.com/<handle>/status/1``, ``https://bsky.app/profile/<handle>/post/…``,
``https://mastodon.social/@<handle>/1``, ``https://www.reddit.com/user/<name>/…``, Bluesky CDN links holding the
author's DID). :class:`AccountUrls` is the one rule for them, applied to posts, alerts and briefs here and to the
API's post views, to narratives (their ``urls``) and to the objects coordination edges and clusters share: in every
URL in every string (``url``, ``urls``, ``media[].url``, ``media_by_url.*.media_url``, ``source.uri``, evidence...)
the segment or query value naming an account becomes the account's pseudonym when the account is known, else
``[withheld]``; the rest of the URL is kept, so a link naming no account still works. Left as they are: a post's
``text`` (and a narrative's ``representative_text``) and the ids of posts and cascades (:data:`URL_KEPT_FIELDS`: a
Mastodon post's id is its ActivityPub URL, ``/users/<name>/statuses/<id>``, and the API finds posts by it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from flockwatch.graph.account_history import with_history_renamed

Pseudonymise = Callable[[str], str]


def account_key(platform: Any, author_id: Any) -> str | None:
    """``platform:author_id`` (the stages' account key), None when either part is missing."""
    if not platform or author_id is None or author_id == "":
        return None
    return f"{platform}:{author_id}"


def post_account(post: Mapping[str, Any]) -> str | None:
    """The account key of a stored post: its ``account_key`` or ``platform`` + ``author.id``."""
    if post.get("account_key"):
        return str(post["account_key"])
    author = post.get("author")
    return account_key(post.get("platform"), author.get("id") if isinstance(author, Mapping) else None)


_WORD = re.compile(r"\w")


def _token_start(token: str) -> str:
    """What every occurrence of ``token`` starts with: ``@``, its ``platform:``, else its first character."""
    if token.startswith("@") or ":" not in token:
        return token[:1]
    return token[: token.index(":") + 1]


def known_accounts(items: Mapping[str, Iterable[Mapping[str, Any]]]) -> Iterator[tuple[str, str | None]]:
    """``(account key, handle or None)`` of every account the documents of a case or export name: post authors,
    accounts (and their partners), edge ends, cluster and narrative members, cascade resharers, alert entities."""

    def of(key: Any, handle: Any = None) -> Iterator[tuple[str, str | None]]:
        if key:
            yield str(key), str(handle) if handle else None

    for post in items.get("posts", ()):
        author = post.get("author") if isinstance(post.get("author"), Mapping) else {}
        yield from of(post_account(post), (author or {}).get("handle"))
    for account in items.get("accounts", ()):
        yield from of(account.get("key"), account.get("handle"))
        for partner in account.get("partners") or ():
            yield from of(partner)
    for edge in items.get("edges", ()):
        yield from of(edge.get("source"))
        yield from of(edge.get("target"))
    for kind in ("clusters", "narratives"):
        for doc in items.get(kind, ()):
            for a in doc.get("accounts") or ():
                yield from of(a)
    for cascade in items.get("cascades", ()):
        for row in cascade.get("events") or ():
            if len(row) > 3:
                yield from of(row[3])
    for key in alert_accounts(items.get("alerts", ())):
        yield from of(key)


class Scrubber:
    """Replaces known raw account tokens in free text by their pseudonyms (whole tokens only, longest first).

    A token is replaced where it starts after a non-word character and ends before one (or the text's edge); where
    two known tokens start at the same place, the longer wins. Near-linear in the text whatever the number of
    tokens: one small regex finds the places a token could start (after a non-word character, ``@``, a known
    ``platform:``...), and there the text's slices of each known token length are looked up in a dict, longest
    first. (One regex alternation of every token, tried at every position, was quadratic over an export's
    accounts.)"""

    def __init__(self, names: Pseudonymise, tokens: Mapping[str, str]) -> None:
        self.names = names
        self.tokens = dict(tokens)  # raw token -> replacement
        self._lengths = sorted({len(t) for t in self.tokens if t}, reverse=True)
        starts = sorted({_token_start(t) for t in self.tokens if t}, key=len, reverse=True)
        self._starts = re.compile(r"(?<!\w)(?=" + "|".join(map(re.escape, starts)) + ")") if starts else None

    @classmethod
    def from_items(cls, names: Pseudonymise, items: Mapping[str, Iterable[Mapping[str, Any]]]) -> Scrubber:
        """Learn every raw account key, ``@handle`` and ``@author_id`` from the documents of a case or export."""
        tokens: dict[str, str] = {}
        for key, handle in known_accounts(items):
            alias = names(key)
            tokens[key] = alias
            author_id = key.split(":", 1)[1] if ":" in key else key
            tokens["@" + author_id] = "@" + alias
            if handle:
                tokens["@" + str(handle).lstrip("@")] = "@" + alias
        return cls(names, tokens)

    def text(self, value: str) -> str:
        if self._starts is None:
            return value
        parts: list[str] = []
        copied = at = 0  # value[:copied] is in parts; look for the next token from ``at``
        while (start := self._starts.search(value, at)) is not None:
            i = start.start()
            token = self._longest_at(value, i)
            if token is None:
                at = i + 1
                continue
            parts += [value[copied:i], self.tokens[token]]
            copied = at = i + len(token)
        return "".join([*parts, value[copied:]]) if parts else value

    def _longest_at(self, value: str, i: int) -> str | None:
        """The longest known token at ``value[i:]`` that ends before a non-word character or the end."""
        for length in self._lengths:
            end = i + length
            if end > len(value) or (end < len(value) and _WORD.match(value, end)):
                continue
            if (candidate := value[i:end]) in self.tokens:
                return candidate
        return None

    def deep(self, value: Any) -> Any:
        """Every string inside ``value`` (dict keys included) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(v) for v in value]
        return value


# --------------------------------------------------------------------------------------------------------
# URLs that name an account

WITHHELD = "[withheld]"

# The fields the URL rule leaves as they are, at any depth: a post's text (content, see the module docstring) and
# the ids a post, its parents and its cascade are found by (a Mastodon post's id is its ActivityPub URL).
URL_KEPT_FIELDS = frozenset(
    {"text", "key", "post_key", "post_keys", "platform_id", "parent_key", "reply_to", "reshare_of", "quote_of",
     "root_id", "root_key", "cascade_id", "representative_text", "representative_key"}
)  # fmt: skip
# The document kinds whose URLs the rule rewrites in every field but those: posts, the alerts and briefs that show
# posts and their media, and narratives (their most shared links). Edges and clusters: :data:`OBJECT_URLS`.
URL_KINDS = frozenset({"posts", "alerts", "briefs", "narratives"})

_URL_IN_TEXT = re.compile(r"(?i)\bhttps?://[^\s<>\"'`]+")
_URL_TRAILER = ".,;:!?)]}*"
# Host prefixes that name the same site (``mobile.twitter.com`` is ``twitter.com``).
_HOST_PREFIXES = ("www.", "mobile.", "m.", "old.", "new.", "np.")
# Sites whose ``/@name`` paths are accounts of a platform Flockwatch names otherwise; any other host's ``/@name`` (or
# ActivityPub ``/users/name``) is taken for a fediverse (Mastodon) account.
_AT_HOSTS = {"youtube.com": "youtube", "tiktok.com": "tiktok", "threads.net": "threads", "threads.com": "threads"}
_TWITTER_HOSTS = frozenset(
    {"twitter.com", "x.com", "fxtwitter.com", "vxtwitter.com", "fixupx.com", "fixvx.com", "nitter.net"}
)
# First path segments of twitter.com, instagram.com, facebook.com and t.me that are pages, not accounts.
_NOT_ACCOUNTS = frozenset(
    {"i", "home", "search", "hashtag", "intent", "share", "sharer", "explore", "settings", "messages",
     "notifications", "compose", "login", "logout", "signup", "tos", "privacy", "about", "help", "download", "jobs",
     "account", "accounts", "p", "reel", "reels", "tv", "direct", "stories", "legal", "watch", "groups", "events",
     "pages", "marketplace", "gaming", "photo", "photo.php", "video", "videos", "story.php", "permalink.php",
     "profile.php", "policies", "ads", "business", "joinchat", "addstickers", "addemoji", "proxy", "iv", "c", "s"}
)  # fmt: skip
# Query parameters that name an account, on any site (``intent/user?screen_name=``, ``getAuthorFeed?actor=``).
_ACCOUNT_PARAMS = ("screen_name", "user_id", "actor", "did", "repo", "ab_channel", "username", "handle")
_PARAM = re.compile(r"(?i)(?:^|(?<=[&;]))(" + "|".join(_ACCOUNT_PARAMS) + r")=([^&;#]+)")
_FACEBOOK_PARAM = re.compile(r"(?i)(?:^|(?<=[&;]))(" + "|".join((*_ACCOUNT_PARAMS, "id")) + r")=([^&;#]+)")
_DID_SEGMENT = re.compile(r"(?i)/(?P<who>did(?::|%3A)(?:plc|web)(?::|%3A)[^/?#]+)")


def _host(netloc: str) -> str:
    host = netloc.rpartition("@")[2].split(":", 1)[0].lower().rstrip(".")
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix) :]
    return host


def _platform_of(host: str) -> str:
    """The platform whose accounts a URL's query names, by its host."""
    site = ".".join(host.split(".")[-2:])  # api.twitter.com: twitter.com
    if site in _TWITTER_HOSTS:
        return "twitter"
    if site in ("bsky.app", "bsky.social", "bsky.network"):
        return "bluesky"
    if site == "reddit.com":
        return "reddit"
    return _AT_HOSTS.get(site, "mastodon")


def _path_accounts(host: str, path: str) -> list[tuple[str, re.Match[str]]]:
    """``(platform, match)`` of each path segment (group ``who``) that names an account on ``host``."""
    found: list[tuple[str, re.Match[str] | None]] = []
    first = re.match(r"/(?P<who>[^/?#]+)", path)
    if host in _TWITTER_HOSTS:
        found.append(("twitter", re.match(r"/(?P<who>[A-Za-z0-9_]{1,50})(?![A-Za-z0-9_])", path)))
    elif host == "bsky.app":
        found.append(("bluesky", re.match(r"/profile/(?P<who>[^/?#]+)", path)))
    elif host.endswith("reddit.com"):
        found.append(("reddit", re.match(r"/(?:(?:u|user)/|r/u_)(?P<who>[^/?#]+)", path)))
    elif host == "youtube.com":
        found.append(("youtube", re.match(r"/(?:channel|c|user)/(?P<who>[^/?#]+)", path)))
    elif host == "instagram.com":
        found.append(("instagram", re.match(r"/(?:stories/)?(?P<who>[A-Za-z0-9_.]{1,30})(?![A-Za-z0-9_.])", path)))
    elif host == "facebook.com":
        found.append(("facebook", first))
    elif host in ("t.me", "telegram.me"):
        found.append(("telegram", re.match(r"/(?:s/)?(?P<who>[A-Za-z0-9_]{4,64})(?![A-Za-z0-9_])", path)))
    elif host in ("weibo.com", "weibo.cn"):
        found.append(("weibo", re.match(r"/(?:u/|n/|profile/)?(?P<who>[^/?#]+)", path)))
    found.append((_platform_of(host), re.match(r"/(?:@|users/)(?P<who>[^/?#]+)", path)))
    found.append(("bluesky", _DID_SEGMENT.search(path)))  # cdn.bsky.app, video.bsky.app, a PDS's blobs
    out: list[tuple[str, re.Match[str]]] = []
    for platform, match in found:
        if match is None or unquote(match["who"]).lower() in _NOT_ACCOUNTS:
            continue
        if platform == "weibo" and match["who"] in ("status", "detail"):
            continue
        out.append((platform, match))
    return out


class AccountUrls:
    """The URL rule of the researcher role: every path segment or query value of a URL that names an account
    (``twitter.com/<handle>/status/1``, ``bsky.app/profile/<handle>``, ``<host>/@<handle>`` and ``/users/<handle>``,
    ``reddit.com/user/<name>``, ``youtube.com/@<handle>`` and ``/channel/<id>``, Bluesky CDN URLs holding the
    author's DID, ``?screen_name=``...) is replaced by the account's pseudonym where the account is known (a post's
    author, an account of the export: by handle or author id, on the URL's platform), else by ``[withheld]``, as
    :class:`Scrubber` and the alert views treat ``@handles``. Everything else in the URL is kept, so a link that
    names no account (``twitter.com/i/web/status/1``, a news article, a media file) still works."""

    def __init__(self, names: Pseudonymise, accounts: Iterable[tuple[str, str | None]] = ()) -> None:
        self.names = names
        self.known: dict[tuple[str, str], str] = {}  # (platform, handle or author id, casefolded) -> account key
        for key, handle in accounts:
            platform, _, author_id = key.partition(":")
            for who in (author_id, (handle or "").lstrip("@")):
                if who:
                    self.known.setdefault((platform, who.casefold()), key)

    @classmethod
    def from_items(cls, names: Pseudonymise, items: Mapping[str, Iterable[Mapping[str, Any]]]) -> AccountUrls:
        """Learn the accounts (author ids and handles) the documents of a case, an export or a page name."""
        return cls(names, known_accounts(items))

    def _alias(self, platform: str, host: str, who: str) -> str:
        who = unquote(who).lstrip("@")
        candidates = [who] if "@" in who else [who, f"{who}@{host}"]  # Mastodon handles are ``name@host``
        for candidate in candidates:
            if (key := self.known.get((platform, candidate.casefold()))) is not None:
                return self.names(key)
        return WITHHELD

    def url(self, value: str) -> str:
        """One URL as a researcher may see it."""
        parts = urlsplit(value) if "://" in value else None
        if parts is None or parts.scheme.lower() not in ("http", "https"):
            return value
        host, site = _host(parts.netloc), (parts.hostname or "").rstrip(".")
        path = parts.path
        spans: list[tuple[int, int, str]] = []
        for platform, match in _path_accounts(host, path):
            start, end = match.span("who")
            if all(end <= s or start >= e for s, e, _ in spans):
                spans.append((start, end, self._alias(platform, site, match["who"])))
        for start, end, alias in sorted(spans, reverse=True):
            path = path[:start] + alias + path[end:]
        params = _FACEBOOK_PARAM if host == "facebook.com" else _PARAM
        query = params.sub(lambda m: f"{m[1]}={self._alias(_platform_of(host), site, m[2])}", parts.query)
        if path == parts.path and query == parts.query:
            return value
        return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))

    def text(self, value: str) -> str:
        """Every URL in ``value`` as a researcher may see it (the rest of the text as it is)."""

        def one(match: re.Match[str]) -> str:
            url = match[0].rstrip(_URL_TRAILER)
            return self.url(url) + match[0][len(url) :]

        return _URL_IN_TEXT.sub(one, value) if "://" in value else value

    def deep(self, value: Any, kept: frozenset[str] = URL_KEPT_FIELDS) -> Any:
        """Every URL in every string inside ``value``, except in the fields named ``kept`` (at any depth)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: v if str(k) in kept else self.deep(v, kept) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(v, kept) for v in value]
        return value


def _public(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in doc.items() if not str(k).startswith("_")}


def post(doc: Mapping[str, Any], names: Pseudonymise) -> dict[str, Any]:
    out = _public(doc)
    platform = str(out.get("platform") or "")
    key = post_account(doc)
    if "author" in out:
        out["author"] = {"id": names(key)} if key else {}
    if out.get("account_key"):
        out["account_key"] = names(str(out["account_key"]))
    if out.get("mentions"):
        out["mentions"] = [names(f"{platform}:{m}") for m in out["mentions"]]
    return out


def account(doc: Mapping[str, Any], names: Pseudonymise) -> dict[str, Any]:
    out = _public(doc)
    key = doc.get("key") or doc.get("_id")
    if key:
        out["key"] = names(str(key))
    out.pop("handle", None)
    out.pop("display_name", None)
    if "partners" in out:
        out["partners"] = [names(str(p)) for p in out["partners"] or []]
    if isinstance(out.get("partner_kinds"), Mapping):
        out["partner_kinds"] = {names(str(p)): k for p, k in out["partner_kinds"].items()}
    return out


def edge(doc: Mapping[str, Any], names: Pseudonymise) -> dict[str, Any]:
    out = _public(doc)
    for side in ("source", "target"):
        if out.get(side):
            out[side] = names(str(out[side]))
    if "edge_id" in out:
        out["edge_id"] = f"{out.get('kind')}|{out.get('source')}|{out.get('target')}"
    return out


def with_accounts(doc: Mapping[str, Any], names: Pseudonymise) -> dict[str, Any]:
    """Clusters and narratives: their ``accounts`` list."""
    out = _public(doc)
    if "accounts" in out:
        out["accounts"] = [names(str(a)) for a in out["accounts"] or []]
    return out


def cascade(doc: Mapping[str, Any], names: Pseudonymise) -> dict[str, Any]:
    out = _public(doc)
    rows = []
    for row in out.get("events") or []:
        row = list(row)
        if len(row) > 3 and row[3]:
            row[3] = names(str(row[3]))
        rows.append(row)
    if "events" in out:
        out["events"] = rows
    return with_history_renamed(out, names)


# How an alert names an account: ``author:platform:id`` (the author rules' entity and evidence), ``account:...``.
_ACCOUNT_REFS = ("author:", "account:")


def _account_ref(value: Any) -> tuple[str, str] | None:
    """``(prefix, account key)`` of an alert's account reference, None for any other entity."""
    text = str(value or "")
    for prefix in _ACCOUNT_REFS:
        if text.startswith(prefix) and ":" in text[len(prefix) :]:
            return prefix, text[len(prefix) :]
    return None


def alert_accounts(alerts: Iterable[Mapping[str, Any]]) -> list[str]:
    """The account keys alerts name in their ``entity`` and evidence ``on``."""
    refs = [a.get("entity") for a in alerts] + [
        e.get("on") for a in alerts for e in a.get("evidence") or () if isinstance(e, Mapping)
    ]
    return sorted({ref[1] for r in refs if (ref := _account_ref(r)) is not None})


def alert(doc: Mapping[str, Any], names: Pseudonymise) -> dict[str, Any]:
    out = _public(doc)

    def named(value: Any) -> Any:
        ref = _account_ref(value)
        return value if ref is None else ref[0] + names(ref[1])

    if "entity" in out:
        out["entity"] = named(out["entity"])
    for evidence in out.get("evidence") or ():
        if isinstance(evidence, dict) and "on" in evidence:
            evidence["on"] = named(evidence["on"])
    return out


# Which rewrite each item kind gets (the keys of a case's items, see flockwatch.exports.bundle).
BY_KIND: dict[str, Callable[[Mapping[str, Any], Pseudonymise], dict[str, Any]]] = {
    "posts": post,
    "accounts": account,
    "edges": edge,
    "clusters": with_accounts,
    "narratives": with_accounts,
    "cascades": cascade,
    "alerts": alert,
}


def items(
    docs: Mapping[str, Iterable[Mapping[str, Any]]],
    names: Pseudonymise | None,
    learn_from: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every document of every kind as the caller may see it: unchanged (store bookkeeping ``_*`` out) without
    ``names``; otherwise rewritten per kind (:data:`BY_KIND`), the URLs of posts, alerts and briefs that name an
    account rewritten (:class:`AccountUrls`), and then scrubbed of raw tokens in any text.
    ``learn_from``: more documents (by kind) whose accounts and handles the scrubber learns, not returned (the posts
    of alerts shown alone, whose summaries name their authors' handles)."""
    materialised = {kind: list(values) for kind, values in docs.items()}
    if names is None:
        return {kind: [_public(d) for d in values] for kind, values in materialised.items()}
    known = {kind: list(values) for kind, values in materialised.items()}
    for kind, values in (learn_from or {}).items():
        known.setdefault(kind, []).extend(values)
    scrub = Scrubber.from_items(names, known)
    urls = AccountUrls.from_items(names, known)
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, values in materialised.items():
        rewrite = BY_KIND.get(kind)
        shown = [rewrite(d, names) if rewrite else _public(d) for d in values]
        if (rewrite_urls := OBJECT_URLS.get(kind)) is not None:
            shown = [rewrite_urls(d, urls) for d in shown]
        # URLs first: the scrubber would turn a known ``/@handle`` into ``/@pseudonym`` but leave ``/users/handle``
        out[kind] = [scrub.deep(urls.deep(d) if kind in URL_KINDS else d) for d in shown]
    return out


# Coordination kinds whose shared object is a post's id (the reshared or replied-to post): kept, as post ids are.
POST_OBJECT_KINDS = frozenset({"co_retweet", "co_reply"})
# One entry of an ``examples`` line: ``<source post>><target post> dt=<seconds>s <object>``.
_EXAMPLE = re.compile(r"(?s)(?P<pair>\S+>\S+ dt=\S+ )(?P<object>.*)")
_POST_KEY = re.compile(r"[a-z][a-z0-9_]*:(?!//)")  # ``platform:id``, not ``https://``


def _object_urls(obj: str, kind: str | None, urls: AccountUrls) -> str:
    """A shared object as a researcher may see it: a link (or a text holding links) rewritten, a post id kept.
    ``kind`` None (a multi-kind cluster's examples): an object that reads as ``platform:id`` is taken for a post id."""
    keep = kind in POST_OBJECT_KINDS if kind is not None else _POST_KEY.match(obj) is not None
    return obj if keep else urls.text(obj)


def _examples_urls(line: str, kind: str | None, urls: AccountUrls) -> str:
    """An ``examples`` line (entries joined by `` | ``): each entry's object rewritten, its post ids kept."""
    entries = []
    for entry in line.split(" | "):
        m = _EXAMPLE.fullmatch(entry)
        entries.append(urls.text(entry) if m is None else m["pair"] + _object_urls(m["object"], kind, urls))
    return " | ".join(entries)


def edge_urls(doc: Mapping[str, Any], urls: AccountUrls) -> dict[str, Any]:
    """A coordination edge's shared objects as a researcher may see them: the object of each co-action (rows are
    ``[source post, target post, object, time, time]``; a co-shared link can name an account) and the ``examples``
    line. Post ids stay, as they do everywhere (:data:`URL_KEPT_FIELDS`): the rows' posts, and the objects of the
    kinds that share a post (:data:`POST_OBJECT_KINDS`)."""
    out = dict(doc)
    kind = str(out.get("kind") or "")
    rows = out.get("coactions")
    if isinstance(rows, list):
        out["coactions"] = [
            [*row[:2], _object_urls(row[2], kind, urls), *row[3:]]
            if isinstance(row, list) and len(row) > 2 and isinstance(row[2], str)
            else row
            for row in rows
        ]
    if isinstance(out.get("examples"), str):
        out["examples"] = _examples_urls(out["examples"], kind, urls)
    return out


def cluster_urls(doc: Mapping[str, Any], urls: AccountUrls) -> dict[str, Any]:
    """A cluster snapshot's shared objects as a researcher may see them: ``top_content`` objects (each with its
    kind) and the ``examples`` lines of its heaviest edges (kinds mixed: see :func:`_object_urls`)."""
    out = dict(doc)
    if isinstance(out.get("examples"), list):
        out["examples"] = [_examples_urls(e, None, urls) if isinstance(e, str) else e for e in out["examples"]]
    if isinstance(out.get("top_content"), list):
        out["top_content"] = [
            {**c, "object": _object_urls(c["object"], str(c.get("kind") or ""), urls)}
            if isinstance(c, Mapping) and isinstance(c.get("object"), str)
            else c
            for c in out["top_content"]
        ]
    return out


# The document kinds whose shared objects hold links: rewritten field by field, post ids kept.
OBJECT_URLS: dict[str, Callable[[Mapping[str, Any], AccountUrls], dict[str, Any]]] = {
    "edges": edge_urls,
    "clusters": cluster_urls,
}
