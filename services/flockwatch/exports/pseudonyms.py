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
* **coordination_edges**: ``source``, ``target``; ``edge_id`` rebuilt from them (``kind|source|target``).
* **clusters**, **narratives**: ``accounts``.
* **cascades**: the account (4th item) of each ``events`` row; the accounts named by ``resharer_history`` and
  ``early_resharer_history`` (their explanation re-rendered).
* **alerts**, **notes** and every other text: :class:`Scrubber` replaces each known account key, ``@handle`` and
  ``@author_id`` that occurs as a whole token (alert summaries say ``by @handle``).

A post's own ``text`` is content and is kept (as the API shows it to researchers); the scrubber is applied to it too,
so a post quoting a known account key or ``@handle`` of an account in the export does not leak it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

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


class Scrubber:
    """Replaces known raw account tokens in free text by their pseudonyms (whole tokens only, longest first)."""

    def __init__(self, names: Pseudonymise, tokens: Mapping[str, str]) -> None:
        self.names = names
        self.tokens = dict(tokens)  # raw token -> replacement
        ordered = sorted(self.tokens, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<![\w])(" + "|".join(re.escape(t) for t in ordered) + r")(?![\w])") if ordered else None
        )

    @classmethod
    def from_items(cls, names: Pseudonymise, items: Mapping[str, Iterable[Mapping[str, Any]]]) -> Scrubber:
        """Learn every raw account key, ``@handle`` and ``@author_id`` from the documents of a case or export."""
        tokens: dict[str, str] = {}

        def add(key: str | None, handle: Any = None) -> None:
            if not key:
                return
            alias = names(key)
            tokens[key] = alias
            author_id = key.split(":", 1)[1] if ":" in key else key
            tokens["@" + author_id] = "@" + alias
            if handle:
                tokens["@" + str(handle).lstrip("@")] = "@" + alias

        for post in items.get("posts", ()):
            author = post.get("author") if isinstance(post.get("author"), Mapping) else {}
            add(post_account(post), (author or {}).get("handle"))
        for account in items.get("accounts", ()):
            add(str(account.get("key") or "") or None, account.get("handle"))
            for partner in account.get("partners") or ():
                add(str(partner))
        for edge in items.get("edges", ()):
            add(str(edge.get("source") or "") or None)
            add(str(edge.get("target") or "") or None)
        for kind in ("clusters", "narratives"):
            for doc in items.get(kind, ()):
                for a in doc.get("accounts") or ():
                    add(str(a))
        for cascade in items.get("cascades", ()):
            for row in cascade.get("events") or ():
                if len(row) > 3 and row[3]:
                    add(str(row[3]))
        return cls(names, tokens)

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(lambda m: self.tokens[m.group(1)], value)

    def deep(self, value: Any) -> Any:
        """Every string inside ``value`` (dict keys included) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(v) for v in value]
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


# Which rewrite each item kind gets (the keys of a case's items, see flockwatch.exports.bundle).
BY_KIND: dict[str, Callable[[Mapping[str, Any], Pseudonymise], dict[str, Any]]] = {
    "posts": post,
    "accounts": account,
    "edges": edge,
    "clusters": with_accounts,
    "narratives": with_accounts,
    "cascades": cascade,
}


def items(
    docs: Mapping[str, Iterable[Mapping[str, Any]]], names: Pseudonymise | None
) -> dict[str, list[dict[str, Any]]]:
    """Every document of every kind as the caller may see it: unchanged (store bookkeeping ``_*`` out) without
    ``names``; otherwise rewritten per kind (:data:`BY_KIND`) and then scrubbed of raw tokens in any text."""
    materialised = {kind: list(values) for kind, values in docs.items()}
    if names is None:
        return {kind: [_public(d) for d in values] for kind, values in materialised.items()}
    scrub = Scrubber.from_items(names, materialised)
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, values in materialised.items():
        rewrite = BY_KIND.get(kind)
        out[kind] = [scrub.deep(rewrite(d, names) if rewrite else _public(d)) for d in values]
    return out
