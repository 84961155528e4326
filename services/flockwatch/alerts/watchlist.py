"""Watched entities (candidates, organisations...): names, aliases, handles and languages.

A watchlist file is YAML::

    entities:
      - id: hillary-clinton          # slug: lowercase letters, digits, '-', '_'
        kind: candidate              # free label, shown in alerts
        name: Hillary Clinton        # matched as a phrase in post text (case-insensitive)
        aliases: [Hillary, HRC]      # more phrases
        handles: ["@HillaryClinton"] # matched against mentions and the author's handle (fediverse: @a@server)
        languages: [en]              # optional: only posts in these languages (en also matches en-US)

The store compiles each entity into a percolator query (``flockwatch.store.watchlists.compile_watch_query``);
:func:`matches` is the same logic in Python, used by tests and by sweeps without a store.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flockwatch.schema import Post, primary_language
from flockwatch.yamlconf import ConfigError, Problem, load_yaml, validate

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# A handle, or a fediverse one with its server (``@alice@mastodon.social``, matched whole).
_HANDLE = re.compile(r"^@?([A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)$")
_LANG = re.compile(r"^[a-z]{2,3}$")
_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Word tokens, lowercased, close to the store's standard analyzer: Lucene lowercases the Turkish dotted
    ``İ`` to a plain ``i``, where casefolding keeps a combining dot, which is dropped here too."""
    return [t.casefold().replace("\u0307", "") for t in _TOKEN.findall(unicodedata.normalize("NFKC", text))]


class WatchEntity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str = Field(default="entity", min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list)
    handles: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError(f"id {v!r} must be a slug: lowercase letters, digits, '-' or '_', at most 64")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = " ".join(v.split())
        if not tokens(v):
            raise ValueError(f"name {v!r} has no letters or digits to match")
        return v

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, values: list[str]) -> list[str]:
        out = []
        for v in values:
            v = " ".join(v.split())
            toks = tokens(v)
            if not toks:
                raise ValueError(f"alias {v!r} has no letters or digits to match")
            if len("".join(toks)) < 2:
                raise ValueError(f"alias {v!r} is too short: it would match almost every post")
            out.append(v)
        return list(dict.fromkeys(out))

    @field_validator("handles")
    @classmethod
    def _handles(cls, values: list[str]) -> list[str]:
        out = []
        for v in values:
            m = _HANDLE.match(v.strip())
            if not m:
                raise ValueError(f"handle {v!r} is not a handle (letters, digits, '_', '.', '-'; optional '@')")
            out.append(m.group(1).lower())
        return list(dict.fromkeys(out))

    @field_validator("languages")
    @classmethod
    def _languages(cls, values: list[str]) -> list[str]:
        out = []
        for v in values:
            code = primary_language(v)  # en-US watches English posts, whichever region
            if not _LANG.match(code):
                raise ValueError(f"language {v!r} is not an ISO 639 code such as 'en' or 'ru'")
            out.append(code)
        return list(dict.fromkeys(out))

    @model_validator(mode="after")
    def _something_to_match(self) -> WatchEntity:
        if not (self.name or self.aliases or self.handles):
            raise ValueError("an entity needs a name, aliases or handles to match")
        return self

    @property
    def phrases(self) -> list[str]:
        return list(dict.fromkeys([self.name, *self.aliases]))

    @property
    def key(self) -> str:
        return f"watch:{self.id}"


class Watchlist(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entities: list[WatchEntity] = Field(default_factory=list)


def parse_watchlist(text: str, source: str = "<watchlist>") -> list[WatchEntity]:
    """Entities from a watchlist YAML document; :class:`ConfigError` names each bad line and why."""
    doc = load_yaml(text, source)
    if isinstance(doc.value, list):  # a bare list of entities is accepted too
        doc.value = {"entities": doc.value}
        doc.lines = {(): doc.lines.get((), 1), **{("entities", *k): v for k, v in doc.lines.items()}}
    parsed = validate(Watchlist, doc, source)
    seen: dict[str, int] = {}
    problems = []
    for i, entity in enumerate(parsed.entities):
        line = doc.lines.get(("entities", i, "id"))
        if entity.id in seen:
            problems.append(
                Problem(line, f"entities[{i}].id", f"duplicate id {entity.id!r} (first at item {seen[entity.id]})")
            )
        seen.setdefault(entity.id, i)
    if problems:
        raise ConfigError(source, problems)
    return parsed.entities


def _contains_phrase(hay: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    if n == 0 or n > len(hay):
        return False
    first = phrase[0]
    return any(hay[i] == first and hay[i : i + n] == phrase for i in range(len(hay) - n + 1))


def matches(entity: WatchEntity, post: Post) -> bool:
    """Does ``post`` mention ``entity``? The Python twin of the store's percolator query."""
    if entity.languages and primary_language(post.language) not in entity.languages:
        return False
    handles = set(entity.handles)
    if handles:
        if (post.author.handle or "").lower() in handles:
            return True
        if any(m.lower() in handles for m in post.mentions):
            return True
    hay = tokens(post.text)
    return any(_contains_phrase(hay, tokens(p)) for p in entity.phrases)


def match_all(entities: list[WatchEntity], posts: list[Post]) -> dict[str, list[WatchEntity]]:
    """Post key → the entities it mentions (posts with none are left out)."""
    out: dict[str, list[WatchEntity]] = {}
    for post in posts:
        hit = [e for e in entities if matches(e, post)]
        if hit:
            out[post.key] = hit
    return out
