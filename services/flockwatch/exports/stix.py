"""STIX 2.1 bundles of a case or a coordination cluster, built with ``stix2`` and checked with ``stix2-validator``.

What becomes what (inputs are the store documents of :mod:`flockwatch.exports`):

* **accounts** (any account key met in posts, accounts, clusters, narratives, edges, cascades) → ``user-account``
  SCOs: ``user_id`` = the account key (``platform:author_id``, or its pseudonym), ``account_type`` = the platform
  (an open vocabulary: ``twitter`` and ``facebook`` are in it, other platforms are kept as they are),
  ``account_login`` = the handle (never with ``pseudonymise``).
* **posts** → ``note`` objects, not ``observed-data``: a post's words are the evidence (narratives, copies), and a
  note carries them (``content``; ``abstract`` = post key and time) while pointing at its author's
  ``user-account``, its ``url`` and ``file`` SCOs (``object_refs``); ``observed-data`` has no place for text and
  would only say that these SCOs were seen. The post key is an ``external_reference`` (source ``flockwatch``).
* **URLs** of posts and narratives → ``url`` SCOs; **media hashes** (posts' ``media[].sha256`` and media scores)
  → ``file`` SCOs with ``hashes`` ``{"SHA-256": ...}``; a PDQ hash, when an entry carries one (``pdq``), is added
  as the custom hash key ``x_pdq`` (the validator accepts ``x_``-prefixed hash names even in strict mode; a bare
  ``PDQ`` key is refused there).
* **narratives** → ``grouping`` (context ``suspicious-activity``) whose ``description`` is the representative text
  and whose ``object_refs`` are its accounts, its posts' notes and its URLs.
* **clusters** → ``grouping`` of the member accounts and their coordination; **coordination edges** →
  ``relationship`` ``related-to`` between the two ``user-account`` SCOs with the evidence in ``description``.
* **alerts** and case **notes** → ``note`` objects pointing at what they are about (posts, narratives, clusters,
  media), or at the case's ``report`` when nothing they name is in the bundle.
* **DISARM**: each technique the evidence supports (:func:`flockwatch.exports.disarm.findings`) → one
  ``attack-pattern`` with ``external_references`` ``[{"source_name": "DISARM", "external_id": "T0049"}]`` (no
  URL: the validator warns about a URL without a hash; ``docs/disarm.md`` links the technique pages) and a
  ``related-to`` relationship from the evidence (cluster, narrative, file) saying why.
* a **case** → a ``report`` referencing everything; a **cluster** bundle is rooted at the cluster's ``grouping``.

Ids are deterministic, so the same input exports the same bundle: SCOs use stix2's UUIDv5 ids from their
id-contributing properties; SDOs, relationships and the bundle use UUIDv5 of their Flockwatch key under
:data:`NAMESPACE`; ``created``/``modified``/``published`` are the case's ``created_at`` (or the cluster's
``window_end``, else the latest time in the items), never the clock. UUIDv5 SDO ids are what the validator's
*strict* mode flags (STIX says SDO ids SHOULD be UUIDv4); the default checks pass with no error.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import stix2

from flockwatch.exports import disarm, pseudonyms
from flockwatch.exports.pseudonyms import Pseudonymise, post_account
from flockwatch.exports.tables import to_time

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/flockwatch/stix")
FALLBACK_TIME = datetime(2000, 1, 1, tzinfo=UTC)
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_DESCRIPTION = 4000


def sdo_id(kind: str, key: str) -> str:
    """A deterministic STIX id for an SDO/SRO/bundle from its Flockwatch key."""
    return f"{kind}--{uuid.uuid5(NAMESPACE, f'{kind}|{key}')}"


def _cut(text: Any, limit: int = MAX_DESCRIPTION) -> str:
    raw = str(text or "")
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"


def _latest_time(items: Mapping[str, Iterable[Mapping[str, Any]]]) -> datetime:
    seen = []
    for docs in items.values():
        for d in docs:
            for name in ("created_at", "last_seen", "window_end", "updated_at"):
                when = to_time(d.get(name))
                if when is not None:
                    seen.append(when)
    return max(seen, default=FALLBACK_TIME)


class _Builder:
    """Collects objects by id (each made once) for one bundle."""

    def __init__(self, at: datetime, items: Mapping[str, list[dict[str, Any]]], pseudonymised: bool) -> None:
        self.at = at
        self.items = items
        self.pseudonymised = pseudonymised
        self.objects: dict[str, Any] = {}
        self.platforms: dict[str, str] = {}
        self.handles: dict[str, str] = {}
        self.post_notes: dict[str, str] = {}
        self.groupings: dict[str, str] = {}  # cluster:<id> / narrative:<id> -> grouping id
        self.files: dict[str, str] = {}  # media:<sha256 or url> -> file id
        for p in items.get("posts", []):
            key = post_account(p)
            if key and p.get("platform"):
                self.platforms[key] = str(p["platform"])
            author = p.get("author")
            handle = author.get("handle") if isinstance(author, Mapping) else None
            if key and handle and not pseudonymised:
                self.handles[key] = str(handle)
        # a media hash's PDQ, wherever a post's media scores carry it (so the file object is the same whichever
        # post is met first)
        self.pdq: dict[str, str] = {}
        for p in items.get("posts", []):
            for e in disarm.media_entries(p):
                if e.get("sha256") and e.get("pdq"):
                    self.pdq.setdefault(str(e["sha256"]).lower(), str(e["pdq"]))
        for a in items.get("accounts", []):
            key = str(a.get("key") or "")
            if key and a.get("platform"):
                self.platforms[key] = str(a["platform"])
            if key and a.get("handle") and not pseudonymised:
                self.handles[key] = str(a["handle"])

    def add(self, obj: Any) -> str:
        self.objects.setdefault(obj.id, obj)
        return str(obj.id)

    def times(self) -> dict[str, datetime]:
        return {"created": self.at, "modified": self.at}

    def account(self, key: str) -> str:
        platform = self.platforms.get(key) or (key.split(":", 1)[0] if ":" in key and not self.pseudonymised else None)
        props: dict[str, Any] = {"user_id": key}
        if platform:
            props["account_type"] = platform
        if key in self.handles:
            props["account_login"] = self.handles[key]
        return self.add(stix2.v21.UserAccount(**props))

    def url(self, value: str) -> str | None:
        value = str(value or "").strip()
        if not value or " " in value:
            return None
        return self.add(stix2.v21.URL(value=value))

    def file(self, sha256: str, pdq: str | None = None, name: str | None = None) -> str | None:
        if not _SHA256.match(str(sha256 or "")):
            return None
        hashes = {"SHA-256": sha256.lower()}
        pdq = pdq or self.pdq.get(sha256.lower())
        if pdq:
            hashes["x_pdq"] = str(pdq)
        props: dict[str, Any] = {"hashes": hashes}
        fid = self.add(stix2.v21.File(**props, allow_custom=True))
        self.files[f"media:{sha256.lower()}"] = fid
        if name:
            self.files[f"media:{name}"] = fid
        return fid

    def post(self, p: Mapping[str, Any]) -> str:
        key = str(p.get("key") or "")
        refs: list[str] = []
        account = post_account(p)
        if account:
            refs.append(self.account(account))
        refs += [r for u in p.get("urls") or [] if (r := self.url(u))]
        for m in p.get("media") or []:
            if isinstance(m, Mapping) and (r := self.file(str(m.get("sha256") or ""), None, m.get("url"))):
                refs.append(r)
        for e in disarm.media_entries(p):
            if r := self.file(str(e.get("sha256") or ""), e.get("pdq"), e.get("media_url")):
                refs.append(r)
        created = to_time(p.get("created_at"))
        by = f" by {account}" if account else ""
        abstract = f"Post {key}{by} at {created.isoformat() if created else 'unknown time'}"
        note = stix2.v21.Note(
            id=sdo_id("note", f"post|{key}"),
            abstract=_cut(abstract, 500),
            content=_cut(p.get("text") or "(no text)"),
            object_refs=sorted(set(refs)) or [self.account(account or f"unknown:{key}")],
            external_references=[{"source_name": "flockwatch", "external_id": key}],
            **self.times(),
        )
        self.post_notes[key] = self.add(note)
        return self.post_notes[key]

    def narrative(self, n: Mapping[str, Any]) -> str | None:
        nid = str(n.get("narrative_id") or "")
        refs = [self.account(str(a)) for a in n.get("accounts") or []]
        refs += [
            nid_
            for p in self.items.get("posts", [])
            if p.get("narrative_id") == nid and (nid_ := self.post_notes.get(str(p.get("key"))))
        ]
        refs += [r for u in n.get("urls") or [] if (r := self.url(u))]
        if not refs:
            return None
        gid = self.add(
            stix2.v21.Grouping(
                id=sdo_id("grouping", f"narrative|{nid}"),
                name=f"Narrative {nid}",
                description=_cut(n.get("representative_text") or ""),
                context="suspicious-activity",
                object_refs=sorted(set(refs)),
                external_references=[{"source_name": "flockwatch", "external_id": f"narrative:{nid}"}],
                **self.times(),
            )
        )
        self.groupings[f"narrative:{nid}"] = gid
        return gid

    def edge(self, e: Mapping[str, Any]) -> str:
        source, target, kind = str(e.get("source")), str(e.get("target")), str(e.get("kind"))
        evidence = (
            f"{kind}: weight {e.get('weight')}, {e.get('n_coactions')} co-actions on {e.get('n_objects')} objects, "
            f"min Δt {e.get('min_dt_s')} s, median Δt {e.get('median_dt_s')} s, from {e.get('first_seen')} to "
            f"{e.get('last_seen')}; q-value {e.get('q_value')}; examples: {e.get('examples') or ''}"
        )
        return self.add(
            stix2.v21.Relationship(
                id=sdo_id("relationship", f"edge|{kind}|{source}|{target}"),
                relationship_type="related-to",
                source_ref=self.account(source),
                target_ref=self.account(target),
                description=_cut(evidence),
                **self.times(),
            )
        )

    def cluster(self, c: Mapping[str, Any], edges: Iterable[Mapping[str, Any]]) -> str:
        cid = str(c.get("cluster_id") or "")
        members = [str(a) for a in c.get("accounts") or []]
        member_set = set(members)
        refs = [self.account(a) for a in members]
        refs += [
            self.edge(e) for e in edges if str(e.get("source")) in member_set and str(e.get("target")) in member_set
        ]
        description = (
            f"{c.get('n_accounts', len(members))} accounts coordinating ({' '.join(c.get('layers') or [])}) in the "
            f"window {c.get('window_start')} – {c.get('window_end')}; {c.get('n_edges')} edges, total weight "
            f"{c.get('total_weight')}; machine-like text share {c.get('machine_text_share')}, manipulated media "
            f"share {c.get('manipulated_media_share')}."
        )
        gid = self.add(
            stix2.v21.Grouping(
                id=sdo_id("grouping", f"cluster|{cid}"),
                name=f"Coordination cluster {cid}",
                description=description,
                context="suspicious-activity",
                object_refs=sorted(set(refs)) or [self.account(f"unknown:{cid}")],
                external_references=[{"source_name": "flockwatch", "external_id": f"cluster:{cid}"}],
                **self.times(),
            )
        )
        self.groupings[f"cluster:{cid}"] = gid
        return gid

    def resolve(self, ref: str) -> str | None:
        if ref.startswith("post:"):
            return self.post_notes.get(ref[5:])
        return self.groupings.get(ref) or self.files.get(ref)

    def alert(self, a: Mapping[str, Any], root: str) -> str:
        refs = [r for k in a.get("post_keys") or [] if (r := self.post_notes.get(str(k)))]
        for ref in (f"narrative:{a.get('narrative_id')}", f"cluster:{a.get('cluster_id')}"):
            if r := self.resolve(ref):
                refs.append(r)
        refs += [
            r
            for m in a.get("media") or []
            if (r := self.files.get(f"media:{str(m).lower()}") or self.files.get(f"media:{m}"))
        ]
        lines = [str(a.get("summary") or "")]
        lines += [
            f"- {e.get('signal')} ({e.get('score')}) on {e.get('on')}: {e.get('detail')}"
            for e in a.get("evidence") or []
            if isinstance(e, Mapping)
        ]
        aid = str(a.get("alert_id") or "")
        return self.add(
            stix2.v21.Note(
                id=sdo_id("note", f"alert|{aid}"),
                abstract=_cut(
                    f"Alert {a.get('rule')} ({a.get('severity')}, {a.get('status', 'new')}): {a.get('entity')}", 500
                ),
                content=_cut("\n".join(lines)),
                object_refs=sorted(set(refs)) or [root],
                external_references=[{"source_name": "flockwatch", "external_id": f"alert:{aid}"}],
                **self.times(),
            )
        )

    def note(self, n: Mapping[str, Any], index: int, root: str) -> str:
        refs = [r for ref in n.get("refs") or [] if (r := self.resolve(str(ref)))]
        key = str(n.get("note_id") or index)
        props: dict[str, Any] = {}
        if n.get("author") and not self.pseudonymised:
            props["authors"] = [str(n["author"])]
        return self.add(
            stix2.v21.Note(
                id=sdo_id("note", f"case-note|{key}"),
                abstract=_cut(n.get("title") or f"Analyst note {key}", 500),
                content=_cut(n.get("text") or n.get("content") or "(empty)"),
                object_refs=sorted(set(refs)) or [root],
                **props,
                **self.times(),
            )
        )

    def techniques(self) -> list[str]:
        out = []
        for f in disarm.findings(self.items):
            tid = f.technique_id
            pattern = self.add(
                stix2.v21.AttackPattern(
                    id=sdo_id("attack-pattern", f"disarm|{tid}"),
                    name=f.technique,
                    external_references=[
                        {
                            "source_name": disarm.DISARM_SOURCE,
                            "external_id": tid,
                        }
                    ],
                    **self.times(),
                )
            )
            out.append(pattern)
            why = f"{disarm.DISARM_MAPPING[f.evidence]['evidence']}: {'; '.join(f.details)}"
            for subject in f.subjects or ["case"]:
                source = self.resolve(subject)
                if source is None:
                    continue
                out.append(
                    self.add(
                        stix2.v21.Relationship(
                            id=sdo_id("relationship", f"disarm|{f.evidence}|{subject}|{tid}"),
                            relationship_type="related-to",
                            source_ref=source,
                            target_ref=pattern,
                            description=_cut(why),
                            **self.times(),
                        )
                    )
                )
        return out

    def bundle(self, bundle_key: str) -> dict[str, Any]:
        objects = [self.objects[k] for k in sorted(self.objects)]
        bundle = stix2.v21.Bundle(objects=objects, id=sdo_id("bundle", bundle_key), allow_custom=True)
        return json.loads(bundle.serialize(sort_keys=True))  # type: ignore[no-any-return]


def _prepared(
    items: Mapping[str, Iterable[Mapping[str, Any]]], names: Pseudonymise | None
) -> dict[str, list[dict[str, Any]]]:
    return pseudonyms.items(items, names)


def case_bundle(
    case: Mapping[str, Any],
    items: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    pseudonymise: Pseudonymise | None = None,
) -> dict[str, Any]:
    """A STIX 2.1 bundle (as a JSON-able dict) of a case: ``case`` holds ``case_id``, ``name``, optional
    ``description`` and ``created_at``; ``items`` its ``posts``, ``accounts``, ``clusters``, ``edges``,
    ``narratives``, ``cascades``, ``alerts`` and ``notes`` (``{"text", "title"?, "author"?, "refs"?: ["post:<key>",
    "narrative:<id>", "cluster:<id>", "media:<sha256>"]}``)."""
    docs = _prepared(items, pseudonymise)
    case_id = str(case.get("case_id") or case.get("id") or "case")
    at = to_time(case.get("created_at")) or _latest_time(docs)
    b = _Builder(at, docs, pseudonymise is not None)
    root = sdo_id("report", f"case|{case_id}")
    _fill(b, docs, root)
    for key in {k for c in docs.get("cascades", []) for r in c.get("events") or [] if len(r) > 3 and (k := r[3])}:
        b.account(str(key))
    refs = sorted(b.objects)
    report = stix2.v21.Report(
        id=root,
        name=_cut(case.get("name") or f"Case {case_id}", 500),
        description=_cut(case.get("description") or f"Flockwatch case {case_id}"),
        report_types=["threat-report"],
        published=at,
        object_refs=refs or [b.account(f"unknown:{case_id}")],
        external_references=[{"source_name": "flockwatch", "external_id": f"case:{case_id}"}],
        **b.times(),
    )
    b.add(report)
    return b.bundle(f"case|{case_id}")


def _fill(b: _Builder, docs: Mapping[str, list[dict[str, Any]]], root: str) -> None:
    for a in docs.get("accounts", []):
        if a.get("key"):
            b.account(str(a["key"]))
    for p in docs.get("posts", []):
        b.post(p)
    clusters = docs.get("clusters", [])
    edges = docs.get("edges", [])
    for c in clusters:
        b.cluster(c, edges)
    clustered = {str(a) for c in clusters for a in c.get("accounts") or []}
    for e in edges:
        if not (str(e.get("source")) in clustered and str(e.get("target")) in clustered):
            b.edge(e)
    for n in docs.get("narratives", []):
        b.narrative(n)
    b.techniques()
    for a in docs.get("alerts", []):
        b.alert(a, root)
    for i, n in enumerate(docs.get("notes", [])):
        b.note(n, i, root)


def cluster_bundle(
    cluster: Mapping[str, Any],
    edges: Iterable[Mapping[str, Any]],
    accounts: Iterable[Mapping[str, Any]] = (),
    posts: Iterable[Mapping[str, Any]] = (),
    *,
    pseudonymise: Pseudonymise | None = None,
) -> dict[str, Any]:
    """A STIX 2.1 bundle of one coordination cluster: its ``grouping``, member ``user-account`` SCOs, the
    coordination ``relationship``s with their evidence, optional member posts, and the DISARM techniques the
    cluster's evidence supports."""
    docs = _prepared({"clusters": [cluster], "edges": edges, "accounts": accounts, "posts": posts}, pseudonymise)
    c = docs["clusters"][0]
    at = to_time(c.get("window_end")) or _latest_time(docs)
    b = _Builder(at, docs, pseudonymise is not None)
    root = sdo_id("grouping", f"cluster|{c.get('cluster_id')}")
    _fill(b, docs, root)
    return b.bundle(f"cluster|{c.get('cluster_id')}@{c.get('window_end')}")


def validate(bundle: Mapping[str, Any] | str) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` of ``stix2-validator`` (STIX 2.1, default checks) on ``bundle``."""
    from stix2validator import ValidationOptions, validate_string

    text = bundle if isinstance(bundle, str) else json.dumps(bundle)
    result = validate_string(text, ValidationOptions(version="2.1"))
    return [str(e) for e in result.errors], [str(w) for w in result.warnings]


def dumps(bundle: Mapping[str, Any]) -> str:
    """The bundle as stable JSON text (sorted keys, two-space indent): the same case gives the same bytes."""
    return json.dumps(bundle, sort_keys=True, indent=2, ensure_ascii=False)
