"""Declarative alert rules: signals, thresholds, severity, dedupe and suppression, validated from YAML.

An alerts config file::

    detector:                # burst detector parameters (flockwatch.alerts.bursts.BurstConfig)
      bin: 15m
      s: 3
    rules:
      - name: hashtag-burst
        scope: burst         # evaluated per bursting entity
        entity_types: [hashtag, url]
        when: {signal: burst_weight, gte: 20}
        severity: medium
        escalate: [{posts: 200, severity: high}]
        dedupe_window: 6h    # later matches update the open alert instead of raising a new one
        suppress_for: 12h    # after an alert, no new one for the same entity for this long
      - name: watched-candidate-machine-text
        scope: post          # evaluated per post (with its scores)
        group_by: watch      # one alert per watched entity
        when:
          all:
            - {signal: watchlist}
            - any:
                - {signal: machine_text, gte: 0.8}
                - {signal: known_fake_media}
        severity: high
    sinks: [...]             # see flockwatch.adapters.alert_sinks

Conditions are ``{all: [...]}``, ``{any: [...]}``, ``{not: {...}}`` or a leaf ``{signal: NAME}`` with at
most one comparison: ``gte``/``gt``/``lte``/``lt`` for numbers, ``eq``/``in`` for strings, ``eq`` for
booleans (a bare boolean signal means ``eq: true``). A numeric or string signal that a post lacks
(no text score yet, no language) never satisfies a comparison. :func:`parse_config` rejects a
malformed file with ``file:line: path: reason`` for every problem.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from flockwatch.alerts.bursts import ENTITY_TYPES, BurstConfig
from flockwatch.yamlconf import ConfigError, Problem, load_yaml, parse_duration, validate

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")


def severity_rank(s: str) -> int:
    return SEVERITIES.index(s)


class Kind(StrEnum):
    number = "number"
    boolean = "boolean"
    string = "string"


# name → (type, scopes it exists in, what it means)
SIGNALS: dict[str, tuple[Kind, tuple[str, ...], str]] = {
    "machine_text": (Kind.number, ("post",), "text score: probability the text is machine-generated"),
    "media_manipulation": (Kind.number, ("post",), "highest manipulation score of the post's media"),
    "known_fake_media": (Kind.boolean, ("post",), "a media item matched known fake/manipulated media"),
    "has_media": (Kind.boolean, ("post",), "the post carries media"),
    "coordinated": (Kind.boolean, ("post",), "the author belongs to a coordinated cluster"),
    "watchlist": (Kind.boolean, ("post", "burst"), "a watched entity is mentioned (burst: the entity is one)"),
    "watch_kind": (Kind.string, ("post",), "kind of the watched entity (candidate, ...)"),
    "narrative": (Kind.boolean, ("post",), "the post was assigned to a narrative"),
    "bursting": (Kind.boolean, ("post",), "one of the post's entities is bursting"),
    "language": (Kind.string, ("post",), "the post's language code"),
    "platform": (Kind.string, ("post",), "the post's platform"),
    "burst_weight": (Kind.number, ("post", "burst"), "Kleinberg weight of the burst (post: its strongest)"),
    "burst_posts": (Kind.number, ("post", "burst"), "posts in the burst"),
    "burst_ratio": (Kind.number, ("post", "burst"), "observed share / baseline share"),
    "burst_z": (Kind.number, ("post", "burst"), "z-score of the latest bin against the EWMA baseline"),
    "observed_rate": (Kind.number, ("burst",), "posts per hour in the burst"),
    "baseline_rate": (Kind.number, ("burst",), "posts per hour expected at the baseline share"),
    "entity_type": (Kind.string, ("burst",), f"type of the bursting entity: {', '.join(ENTITY_TYPES)}"),
}

# The post signals that ask whether one of the post's entities bursts.
_BURST_SIGNALS = frozenset({"bursting", "burst_weight", "burst_posts", "burst_ratio", "burst_z"})

GroupBy = Literal["watch", "narrative", "cluster", "author", "media", "cascade", "hashtag", "url", "rule"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_NUMERIC_OPS = ("gte", "gt", "lte", "lt")


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    all_: list[Condition] | None = Field(default=None, alias="all", min_length=1)
    any_: list[Condition] | None = Field(default=None, alias="any", min_length=1)
    not_: Condition | None = Field(default=None, alias="not")
    signal: str | None = None
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None
    eq: str | float | bool | None = None
    in_: list[str] | None = Field(default=None, alias="in", min_length=1)

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, v: str | None) -> str | None:
        if v is not None and v not in SIGNALS:
            raise ValueError(f"unknown signal {v!r}; known: {', '.join(sorted(SIGNALS))}")
        return v

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        forms = [
            k
            for k, v in (("all", self.all_), ("any", self.any_), ("not", self.not_), ("signal", self.signal))
            if v is not None
        ]
        if len(forms) != 1:
            raise ValueError(
                "a condition needs exactly one of all, any, not or signal"
                + (f" (got {', '.join(forms)})" if forms else "")
            )
        ops = [k for k in (*_NUMERIC_OPS, "eq", "in_") if getattr(self, k) is not None]
        if self.signal is None:
            if ops:
                raise ValueError(f"comparison {ops[0].rstrip('_')!r} needs a signal")
            return self
        if len(ops) > 1:
            raise ValueError(f"one comparison per condition, got {', '.join(o.rstrip('_') for o in ops)}: use all")
        kind = SIGNALS[self.signal][0]
        op = ops[0] if ops else None
        if kind is Kind.number:
            if op not in _NUMERIC_OPS:
                raise ValueError(f"numeric signal {self.signal!r} needs one of gte, gt, lte, lt")
        elif kind is Kind.boolean:
            if op not in (None, "eq") or (op == "eq" and not isinstance(self.eq, bool)):
                raise ValueError(f"boolean signal {self.signal!r} takes no comparison or eq: true/false")
        elif op not in ("eq", "in_") or (op == "eq" and not isinstance(self.eq, str)):
            raise ValueError(f"string signal {self.signal!r} needs eq: TEXT or in: [TEXT, ...]")
        return self

    def signals(self) -> set[str]:
        if self.signal is not None:
            return {self.signal}
        children = self.all_ or self.any_ or ([self.not_] if self.not_ else [])
        return set().union(*(c.signals() for c in children))

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        if self.all_ is not None:
            return all(c.evaluate(values) for c in self.all_)
        if self.any_ is not None:
            return any(c.evaluate(values) for c in self.any_)
        if self.not_ is not None:
            return not self.not_.evaluate(values)
        assert self.signal is not None
        value = values.get(self.signal)
        kind = SIGNALS[self.signal][0]
        if kind is Kind.boolean:
            want = True if self.eq is None else bool(self.eq)
            return bool(value) == want
        if value is None:
            return False
        if kind is Kind.number:
            x = float(value)
            return (
                (self.gte is None or x >= self.gte)
                and (self.gt is None or x > self.gt)
                and (self.lte is None or x <= self.lte)
                and (self.lt is None or x < self.lt)
            )
        text = str(value).lower()
        if self.in_ is not None:
            return text in {v.lower() for v in self.in_}
        return text == str(self.eq).lower()


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    posts: int = Field(ge=1, description="Raise the severity once the alert has this many posts.")
    severity: Severity


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    scope: Literal["post", "burst"]
    when: Condition
    severity: Severity = "medium"
    group_by: GroupBy | None = None
    entity_types: list[str] | None = None
    escalate: list[Escalation] = Field(default_factory=list)
    dedupe_window: Duration = timedelta(hours=1)
    suppress_for: Duration = timedelta(0)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"rule name {v!r} must be lowercase letters, digits, '.', '-' or '_'")
        return v

    @field_validator("entity_types")
    @classmethod
    def _types(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            unknown = sorted(set(v) - set(ENTITY_TYPES))
            if unknown:
                raise ValueError(f"unknown entity types {unknown}; known: {', '.join(ENTITY_TYPES)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        for sig in sorted(self.when.signals()):
            scopes = SIGNALS[sig][1]
            if self.scope not in scopes:
                raise ValueError(f"signal {sig!r} is not available in scope {self.scope!r} (only {', '.join(scopes)})")
        if self.scope == "post" and self.group_by is None:
            raise ValueError(
                "a post rule needs group_by: watch, narrative, cluster, author, media, cascade, hashtag, url or rule"
            )
        if self.scope == "burst" and self.group_by is not None:
            raise ValueError("a burst rule groups by the bursting entity: drop group_by")
        if self.scope == "post" and self.entity_types is not None:
            raise ValueError("entity_types applies to burst rules only")
        last = -1
        for esc in self.escalate:
            if severity_rank(esc.severity) <= severity_rank(self.severity):
                raise ValueError(f"escalation to {esc.severity!r} is not above the rule's severity {self.severity!r}")
            if esc.posts <= last:
                raise ValueError("escalations must be in increasing order of posts")
            last = esc.posts
        return self

    def severity_for(self, posts: int) -> Severity:
        sev: Severity = self.severity
        for esc in self.escalate:
            if posts >= esc.posts:
                sev = esc.severity
        return sev


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=4, ge=1, le=20)
    base_delay: Duration = timedelta(seconds=0.5)
    max_delay: Duration = timedelta(seconds=10)
    timeout: Duration = timedelta(seconds=5)
    # How often a worker rereads the outbox for what it still owes (a killed deliverer's entries, a full queue).
    outbox_rescan: Duration = timedelta(seconds=30)

    @field_validator("outbox_rescan")
    @classmethod
    def _positive_rescan(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 1:
            raise ValueError("outbox_rescan must be at least 1s")
        return value


class SinkSpec(BaseModel):
    """One destination for alerts. Secrets come from environment variables, never from the file."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook", "slack", "email"]
    name: str | None = None
    min_severity: Severity = "low"
    rules: list[str] | None = None  # only these rules (default: all)
    # webhook / slack
    url: str | None = None
    url_env: str | None = None  # instead of url: env var holding it (a Slack webhook URL is a secret)
    secret_env: str | None = None  # webhook: env var holding the HMAC key
    # email
    host: str | None = None
    port: int = Field(default=25, ge=1, le=65535)
    sender: str | None = None
    to: list[str] = Field(default_factory=list)
    # STARTTLS is required unless turned off (a local relay); the server's certificate is verified
    # against the system CAs, or against ca_file (a private CA, a self-signed relay).
    starttls: bool = True
    ca_file: str | None = None
    username_env: str | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> SinkSpec:
        if self.type in ("webhook", "slack"):
            if (self.url is None) == (self.url_env is None):
                raise ValueError(f"a {self.type} sink needs url: http(s)://... or url_env: VARIABLE (not both)")
            if self.url is not None and not valid_url(self.url):
                raise ValueError(f"a {self.type} sink needs url: http(s)://...")
            if self.type == "webhook" and not self.secret_env:
                raise ValueError("a webhook sink needs secret_env: the environment variable holding its HMAC key")
        else:
            if not self.host or not self.sender or not self.to:
                raise ValueError("an email sink needs host, sender and to")
            bad = [a for a in [self.sender, *self.to] if not re.match(r"^[^@\s]+@[^@\s]+$", a)]
            if bad:
                raise ValueError(f"not an email address: {bad[0]!r}")
            if (self.username_env or self.password_env) and not self.starttls:
                raise ValueError("SMTP credentials are only sent over STARTTLS: drop starttls: false")
        if self.name is None:
            # A webhook URL (Slack's above all) is itself a secret: the default name is a digest of it.
            where = self.url or f"env:{self.url_env}"
            self.name = f"email:{self.host}" if self.type == "email" else f"{self.type}-{url_digest(where)}"
        return self


def valid_url(url: str) -> bool:
    return re.match(r"^https?://[^\s/]+", url) is not None


def url_digest(url: str | None) -> str:
    """8 hex digits naming a URL without revealing it (sink names end up in logs and the store)."""
    return hashlib.sha256((url or "").encode()).hexdigest()[:8]


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detector: BurstConfig = Field(default_factory=BurstConfig)
    rules: list[Rule] = Field(default_factory=list)
    sinks: list[SinkSpec] = Field(default_factory=list)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    max_post_keys: int = Field(default=200, ge=1, le=10_000, description="Post keys kept on one alert.")

    def active_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def scores_read(self) -> tuple[bool, bool]:
        """(text, media): whether the active rules read a post's text score (machine score, narrative) and its
        media scores, directly or through the entities they burst on. The streaming stage waits for those only."""
        text = media = False
        tracked = set(self.detector.entity_types)
        for rule in self.active_rules():
            signals = rule.when.signals()
            if rule.scope == "burst":
                types = tracked & set(rule.entity_types or ENTITY_TYPES)
            else:
                types = tracked if signals & _BURST_SIGNALS else set()
                text |= bool(signals & {"machine_text", "narrative"}) or rule.group_by == "narrative"
                media |= bool(signals & {"media_manipulation", "known_fake_media"}) or rule.group_by == "media"
            text |= "narrative" in types
            media |= "media" in types
        return text, media


def parse_config(text: str, source: str = "<alerts config>") -> AlertsConfig:
    """The alerts config in ``text``; :class:`ConfigError` lists each problem as ``source:line: path: reason``."""
    doc = load_yaml(text, source)
    config = validate(AlertsConfig, doc, source)
    problems = []
    seen: dict[str, int] = {}
    for i, rule in enumerate(config.rules):
        if rule.name in seen:
            line = doc.lines.get(("rules", i, "name"))
            problems.append(
                Problem(
                    line, f"rules[{i}].name", f"duplicate rule name {rule.name!r} (first at rules[{seen[rule.name]}])"
                )
            )
        seen.setdefault(rule.name, i)
    names = {s.name for s in config.sinks}
    if len(names) != len(config.sinks):
        problems.append(Problem(doc.lines.get(("sinks",)), "sinks", "sink names must be unique"))
    for i, sink in enumerate(config.sinks):
        for r in sink.rules or []:
            if r not in seen:
                problems.append(
                    Problem(doc.lines.get(("sinks", i, "rules")), f"sinks[{i}].rules", f"no rule named {r!r}")
                )
    if problems:
        raise ConfigError(source, problems)
    return config


DEFAULT_CONFIG_YAML = """\
# Flockwatch default alert rules (used when FLOCKWATCH_ALERTS_CONFIG is not set).
detector:
  bin: 15m
  s: 3
  gamma: 1.0
  horizon_bins: 96
  baseline_half_life: 24h
  min_posts: 10
  min_weight: 10
  warmup: 1h
rules:
  - name: entity-burst
    description: A hashtag, link, narrative, media item or cluster takes off.
    scope: burst
    entity_types: [hashtag, url, narrative, media, cluster]
    when: {signal: burst_weight, gte: 15}
    severity: medium
    escalate: [{posts: 200, severity: high}]
    dedupe_window: 6h
    suppress_for: 6h
  - name: watched-entity-burst
    description: Mentions of a watched entity take off.
    scope: burst
    entity_types: [watch]
    when: {signal: burst_weight, gte: 10}
    severity: high
    dedupe_window: 6h
  - name: watched-entity-risk
    description: A watched entity is mentioned by machine-like text, manipulated or known-fake media,
      a coordinated account, or inside a burst.
    scope: post
    group_by: watch
    when:
      all:
        - {signal: watchlist}
        - any:
            - {signal: machine_text, gte: 0.8}
            - {signal: media_manipulation, gte: 0.8}
            - {signal: known_fake_media}
            - {signal: coordinated}
            - {signal: bursting}
    severity: high
    escalate: [{posts: 50, severity: critical}]
    dedupe_window: 1h
  - name: manipulated-media-spreading
    description: Manipulated or known-fake media inside a burst.
    scope: post
    group_by: media
    when:
      all:
        - any:
            - {signal: media_manipulation, gte: 0.9}
            - {signal: known_fake_media}
        - {signal: bursting}
    severity: high
    dedupe_window: 6h
"""


def default_config() -> AlertsConfig:
    return parse_config(DEFAULT_CONFIG_YAML, "<default alerts config>")


CONFIG_ENV = "FLOCKWATCH_ALERTS_CONFIG"


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> AlertsConfig:
    """The config at ``path``, else at ``$FLOCKWATCH_ALERTS_CONFIG``, else the built-in default."""
    env = os.environ if env is None else env
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    if path is None:
        return default_config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Problem(None, "", f"cannot read: {exc.strerror or exc}")]) from None
    return parse_config(text, str(path))


__all__ = [
    "DEFAULT_CONFIG_YAML",
    "SEVERITIES",
    "SIGNALS",
    "AlertsConfig",
    "Condition",
    "ConfigError",
    "Rule",
    "SinkSpec",
    "default_config",
    "load_config",
    "parse_config",
]
