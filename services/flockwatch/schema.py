"""The contract between stages: pydantic models serialised as versioned JSON on Kafka.

Every message carries ``schema_version``; a consumer that sees a major version it
does not know dead-letters the message instead of guessing. Posts are keyed by
``platform:platform_id`` (see :func:`post_key`), and that key is also the store's
document id, which is what makes every write idempotent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1

# Longest text a post may carry. Platforms cap posts far below this (Reddit
# self-posts at 40k characters); anything longer is a broken or hostile record.
MAX_TEXT_CHARS = 100_000
# Posts older than this are data errors (epoch-zero defaults, swapped fields).
EARLIEST_POST = datetime(2000, 1, 1, tzinfo=UTC)
# Tolerated clock skew for timestamps in the future.
FUTURE_SKEW = timedelta(days=1)
# Longest id (post, author, parent) a record may carry; platforms' own ids are far shorter.
MAX_ID_CHARS = 512
# Most urls, hashtags or mentions one post may carry (a 280-character post holds under 150 of any);
# more is a broken or hostile record that would multiply the work of every later stage.
MAX_ENTITIES = 1000
MAX_MEDIA = 100
# The store refuses document ids over 512 bytes, and one such id fails a whole bulk request.
MAX_DOCUMENT_ID_BYTES = 512
_ID_HEAD_BYTES = 200


def primary_language(code: str | None) -> str:
    """A language tag's primary subtag, lowercased (``en-US``, ``en_us`` → ``en``; none → ``""``): what a
    watched entity's ``languages`` are compared on, whichever form a platform gives."""
    return re.split(r"[-_]", (code or "").strip().lower(), maxsplit=1)[0]


def post_key(platform: str, platform_id: str) -> str:
    """The post's identity everywhere: Kafka message key and (through :func:`document_id`) store document id."""
    return f"{platform}:{platform_id}"


def document_id(key: str) -> str:
    """The store document id of ``key``: the key itself when it fits, else its readable head and its sha256.

    Deterministic, so a long key always maps to the same document and rewrites stay idempotent; a short key is
    unchanged, so documents written before keep their ids. (A hashed id cannot collide with a short key: no
    real key ends in ``~sha256:`` and 64 hex digits of a longer string.)"""
    raw = key.encode("utf-8")
    if len(raw) <= MAX_DOCUMENT_ID_BYTES:
        return key
    head = raw[:_ID_HEAD_BYTES].decode("utf-8", "ignore")
    return f"{head}~sha256:{hashlib.sha256(raw).hexdigest()}"


class Contract(BaseModel):
    """Base of every message: strict about unknown fields so typos fail loudly."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    schema_version: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode("utf-8")


class MediaKind(StrEnum):
    image = "image"
    video = "video"
    audio = "audio"
    gif = "gif"
    link_preview = "link_preview"
    unknown = "unknown"


class MediaItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    kind: MediaKind = MediaKind.unknown
    mime_type: str | None = None
    alt_text: str | None = None
    # Filled in by the media stage once fetched.
    sha256: str | None = None


class Author(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # bounded by Post (see Post._bounded_author), so the reason names ``author.id``
    handle: str | None = None
    display_name: str | None = None
    followers: int | None = Field(default=None, ge=0)
    following: int | None = Field(default=None, ge=0)
    category: str | None = None  # e.g. IRA's LeftTroll / HashtagGamer, when a dataset labels accounts


class Engagement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    likes: int | None = Field(default=None, ge=0)
    reshares: int | None = Field(default=None, ge=0)
    replies: int | None = Field(default=None, ge=0)
    quotes: int | None = Field(default=None, ge=0)
    views: int | None = Field(default=None, ge=0)


class SourceRef(BaseModel):
    """Where a post came from, precisely enough to find the original record again."""

    model_config = ConfigDict(extra="forbid")

    format: str  # the importer or connector name, e.g. "ira_2016"
    uri: str  # file path (relative to the data dir) or API URL
    position: str | None = None  # line number, archive member, offset...


class Post(Contract):
    kind: Literal["post"] = "post"
    platform: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    platform_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    author: Author
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)
    language: str | None = None
    created_at: datetime
    urls: list[str] = Field(default_factory=list, max_length=MAX_ENTITIES)
    hashtags: list[str] = Field(default_factory=list, max_length=MAX_ENTITIES)
    mentions: list[str] = Field(default_factory=list, max_length=MAX_ENTITIES)
    media: list[MediaItem] = Field(default_factory=list, max_length=MAX_MEDIA)
    # Parent links hold platform ids on the same platform; `None` when absent.
    reply_to: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    reshare_of: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    quote_of: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    # The first post of the conversation or cascade, when the source says so.
    root_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    engagement: Engagement = Field(default_factory=Engagement)
    # When a live connector saw the post (and its engagement counts); absent for recorded datasets. The same post
    # collected again is a new engagement snapshot (store: the engagement index).
    collected_at: datetime | None = None
    source: SourceRef

    @field_validator("created_at")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if value < EARLIEST_POST:
            raise ValueError(f"created_at {value.isoformat()} is before {EARLIEST_POST.date()}")
        if value > datetime.now(UTC) + FUTURE_SKEW:
            raise ValueError(f"created_at {value.isoformat()} is in the future")
        return value

    @field_validator("author")
    @classmethod
    def _bounded_author(cls, value: Author) -> Author:
        if not value.id or len(value.id) > MAX_ID_CHARS:
            raise ValueError(f"author.id must have 1 to {MAX_ID_CHARS} characters, not {len(value.id)}")
        return value

    @property
    def key(self) -> str:
        return post_key(self.platform, self.platform_id)

    def parent_key(self) -> str | None:
        """The post this one spreads: reshare first, then quote, then reply."""
        parent = self.reshare_of or self.quote_of or self.reply_to
        return post_key(self.platform, parent) if parent else None


class RawRecord(Contract):
    """One record exactly as a dataset or platform gave it, before normalisation."""

    kind: Literal["raw"] = "raw"
    format: str
    source_uri: str
    position: str | None = None
    # The reader's best guess of when the record happened, used only to pace replays.
    event_time: datetime | None = None
    payload: dict[str, Any]
    # Context a format needs that lives outside the record (a thread's root, a label file...).
    context: dict[str, Any] = Field(default_factory=dict)


class Evidence(BaseModel):
    """Why a signal fired: enough for an analyst to defend a takedown."""

    model_config = ConfigDict(extra="forbid")

    signal: str
    score: float = Field(ge=0.0, le=1.0)
    on: str  # what it looked at: "text", a media URL, an account...
    detail: str


class Observation(BaseModel):
    """A measurement reported without an opinion (a lip-sync offset...): shown to the analyst, never scored."""

    model_config = ConfigDict(extra="forbid")

    signal: str
    on: str
    detail: str
    data: dict[str, Any] = Field(default_factory=dict)


class TextScore(Contract):
    kind: Literal["text_score"] = "text_score"
    post_key: str
    # The post's time, so the store can route the score to the post's monthly index.
    post_created_at: datetime
    machine_score: float | None = Field(default=None, ge=0.0, le=1.0)
    label: Literal["machine", "human", "unscored"]
    # The score's uncertainty: a range for P(machine) that contains machine_score (the detector's ``interval``).
    interval: tuple[float, float] | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    narrative_id: str | None = None
    # How the post joined its narrative (flockwatch.text.narratives): same words, near copy, paraphrase, or first.
    narrative_how: Literal["exact", "near_copy", "paraphrase", "new"] | None = None
    model: str

    @field_validator("interval")
    @classmethod
    def _ordered_probabilities(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0.0 <= value[0] <= value[1] <= 1.0:
            raise ValueError(f"interval {list(value)} is not a range within [0, 1]")
        return value


class MediaScore(Contract):
    kind: Literal["media_score"] = "media_score"
    post_key: str
    post_created_at: datetime
    media_url: str
    manipulation_score: float | None = Field(default=None, ge=0.0, le=1.0)
    provenance: dict[str, Any] = Field(default_factory=dict)
    matches: list[dict[str, Any]] = Field(default_factory=list)
    signals: list[Evidence] = Field(default_factory=list)
    observations: list[Observation] = Field(default_factory=list)
    # What was fetched (content hash, sniffed kind) or why it could not be scored.
    sha256: str | None = None
    media_kind: str | None = None
    error: str | None = None
    # The highest manipulation score among the post's media scored in the same pass (None: none was), on each
    # of them: the store keeps it as the post's ``media_risk``, so a re-score that finds nothing clears it.
    # Absent (not null) on scores from before it existed, which set ``media_risk`` to their own score.
    post_media_risk: float | None = Field(default=None, ge=0.0, le=1.0)

    def to_bytes(self) -> bytes:
        data = self.model_dump(mode="json", exclude_none=True)
        if "post_media_risk" in self.model_fields_set:  # its null says something: no item of the post scored
            data["post_media_risk"] = self.post_media_risk
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class AlertStatus(StrEnum):
    new = "new"
    acknowledged = "acknowledged"
    resolved = "resolved"


class Alert(Contract):
    kind: Literal["alert"] = "alert"
    alert_id: str
    rule: str
    severity: Literal["low", "medium", "high", "critical"]
    entity: str  # what the alert is about: "hashtag:#maga", "narrative:n-12", "candidate:..."
    created_at: datetime
    status: AlertStatus = AlertStatus.new
    summary: str
    evidence: list[Evidence] = Field(default_factory=list)
    post_keys: list[str] = Field(default_factory=list)
    # Optional context filled in by the alerts stage (flockwatch.alerts); all may be absent.
    # Event time (the posts' own clock) of the first and latest post behind the alert.
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    updated_at: datetime | None = None
    # All posts that matched, including those beyond the capped `post_keys` list.
    post_count: int | None = Field(default=None, ge=0)
    narrative_id: str | None = None
    cluster_id: str | None = None
    cascade_id: str | None = None  # the root post key of the cascade most of its posts belong to
    media: list[str] = Field(default_factory=list)  # media sha256 hashes or URLs
    watch_entity: str | None = None  # watchlist entity id, for watchlist rules
    # Numbers behind the alert, e.g. a burst's baseline/observed rate and weight.
    metrics: dict[str, float] = Field(default_factory=dict)
    # Lifecycle changes ({status, at, by, note}) and sink deliveries ({sink, ok, attempts, error, at}).
    history: list[dict[str, Any]] = Field(default_factory=list)
    deliveries: list[dict[str, Any]] = Field(default_factory=list)


# Dead letters travel on a 16 MiB topic with the original base64-encoded (4/3 its size): a larger original
# cannot fit, so its first MiB is kept with its size and sha256 (enough to find the whole record again).
MAX_DEAD_LETTER_ORIGINAL = 12_000_000
DEAD_LETTER_KEEP_BYTES = 1024 * 1024


class DeadLetter(Contract):
    """A message a stage could not process, with the reason and the original bytes (or, when they are too large
    for the envelope, their first ``DEAD_LETTER_KEEP_BYTES`` with ``original_truncated``, size and sha256)."""

    kind: Literal["dead_letter"] = "dead_letter"
    stage: str
    reason: str
    original_b64: str
    original_truncated: bool = False
    original_size: int | None = Field(default=None, ge=0)
    original_sha256: str | None = None
    # How many times the stage tried the record alone before giving up (absent: rejected on first sight).
    attempts: int | None = Field(default=None, ge=1)
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    failed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def of(
        cls,
        stage: str,
        reason: str,
        original: bytes,
        *,
        max_original: int = MAX_DEAD_LETTER_ORIGINAL,
        **where: Any,
    ) -> DeadLetter:
        if len(original) <= max_original:
            return cls(
                stage=stage, reason=reason[:2000], original_b64=base64.b64encode(original).decode("ascii"), **where
            )
        kept = original[:DEAD_LETTER_KEEP_BYTES]
        note = f" [original of {len(original)} bytes truncated to its first {len(kept)} bytes; see original_sha256]"
        return cls(
            stage=stage,
            reason=reason[: 2000 - len(note)] + note,
            original_b64=base64.b64encode(kept).decode("ascii"),
            original_truncated=True,
            original_size=len(original),
            original_sha256=hashlib.sha256(original).hexdigest(),
            **where,
        )

    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)
