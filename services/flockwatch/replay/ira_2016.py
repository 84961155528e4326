"""``ira_2016``: Internet Research Agency tweets, Oct-Nov 2016 (FiveThirtyEight's release, by author).

One CSV row per tweet (``author_id, content, region, language, publish_date, harvested_date,
following, followers, updates, post_type, retweet, account_category, account_type``), plus
``authors.csv`` next to it with each account's original-case handle and category.

Decisions, and why:

- **Ids.** The release has no tweet ids, so ``platform_id`` is ``ira-`` + a 64-bit BLAKE2b of
  ``author_id | publish_date | content | updates``. ``updates`` is the account's running count of
  actions when the tweet was captured, so two *distinct* tweets with the same text in the same
  minute differ in it and get distinct ids, while the 10,868 rows that repeat another row in
  every column (the same tweet captured twice) get the *same* id and collapse to one post in the
  store. A per-file occurrence counter would instead mint ~10.9k phantom tweets and inflate
  exactly the co-posting signal this dataset is used to study. The id depends on the row alone,
  so replays are idempotent in any order and from any prefix.
- **Retweets and quotes.** Who was retweeted is not in the data. A retweet (``post_type`` R)
  gets ``reshare_of = "ira-rtsrc-" + hash(content)``: the unseen original, identified by its
  text, so accounts that retweeted the same text share a parent in the spread graph. A quote
  (Q) gets ``quote_of = "ira-qtsrc-" + hash(last URL)``: the quoted tweet's link. No post with
  either id exists; they are graph anchors, marked by their prefixes.
- **Authors.** ``Author.id`` is the dataset's ``author_id`` (unique by construction). The
  numeric ``external_author_id`` is not used: many were rounded to 3-6 significant digits in the
  original release and collide between accounts.
- **Time.** ``publish_date`` has no zone in the release; it is read as UTC.
- **Text.** HTML entities left by the export (``&amp;``, ``&#8217;``) are unescaped; the raw
  row stays in the payload. Languages are mapped from English names to ISO 639-1 codes.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from flockwatch.replay.base import relative_uri, text_post
from flockwatch.replay.csv_rows import CsvReject, read_rows
from flockwatch.replay.payload import opt_count, opt_str, reject_unreadable, req_str, text_field, unreadable
from flockwatch.replay.text_entities import extract_urls, unescape_html
from flockwatch.replay.timestamps import from_naive, or_none
from flockwatch.schema import Author, Post, RawRecord

NAME = "ira_2016"
DESCRIPTION = "IRA troll tweets, Oct-Nov 2016 (FiveThirtyEight, by author)"
PLATFORM = "twitter"
DEFAULT_PATH = "campaigns/ira_2016/ira_tweets_2016-10_2016-11.csv.gz"
AUTHORS_FILE = "authors.csv"
ID_PREFIX = "ira-"
RETWEET_SOURCE_PREFIX = "ira-rtsrc-"
QUOTE_SOURCE_PREFIX = "ira-qtsrc-"
_HEADER = frozenset({"author_id", "content", "publish_date", "post_type"})

# FiveThirtyEight's language names → ISO 639-1 (every name in the file; others pass through).
LANGUAGES: dict[str, str | None] = {
    "Albanian": "sq", "Arabic": "ar", "Bulgarian": "bg", "Catalan": "ca", "Croatian": "hr",
    "Czech": "cs", "Danish": "da", "Dutch": "nl", "English": "en", "Estonian": "et",
    "Farsi (Persian)": "fa", "Finnish": "fi", "French": "fr", "German": "de", "Greek": "el",
    "Hebrew": "he", "Hindi": "hi", "Hungarian": "hu", "Icelandic": "is", "Indonesian": "id",
    "Italian": "it", "Japanese": "ja", "Korean": "ko", "Kurdish": "ku", "LANGUAGE UNDEFINED": None,
    "Latvian": "lv", "Lithuanian": "lt", "Macedonian": "mk", "Malay": "ms", "Norwegian": "no",
    "Polish": "pl", "Portuguese": "pt", "Pushto": "ps", "Romanian": "ro", "Russian": "ru",
    "Serbian": "sr", "Simplified Chinese": "zh", "Slovak": "sk", "Slovenian": "sl", "Somali": "so",
    "Spanish": "es", "Swedish": "sv", "Tagalog (Filipino)": "tl", "Thai": "th", "Turkish": "tr",
    "Ukrainian": "uk", "Urdu": "ur", "Uzbek": "uz", "Vietnamese": "vi",
}  # fmt: skip

# The original release spells the post types out; this by-author version abbreviates them.
_RETWEET = frozenset({"R", "RETWEET"})
_QUOTE = frozenset({"Q", "QUOTE_TWEET"})


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).hexdigest()


def tweet_id(author_id: str, publish_date: str, content: str, updates: str) -> str:
    """The deterministic stand-in for the tweet id the release lacks (see module docstring)."""
    return ID_PREFIX + _digest(author_id, publish_date, content, updates)


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _open_bytes(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _tweets_file(path: Path) -> Path:
    if path.is_dir():
        candidates = sorted(path.glob("ira_tweets*.csv*"))
        if not candidates:
            raise FileNotFoundError(f"no ira_tweets*.csv[.gz] in {path}")
        return candidates[0]
    return path


def load_authors(path: Path) -> dict[str, dict[str, str]]:
    """``authors.csv`` keyed by ``author_id``; empty when the file is absent."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["author_id"]: dict(row) for row in csv.DictReader(handle) if row.get("author_id")}


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """One record per CSV row, in file order; the author's ``authors.csv`` row rides in context."""
    tweets = _tweets_file(path)
    authors = load_authors(tweets.parent / AUTHORS_FILE)
    uri = relative_uri(tweets, data_dir)
    no_author: dict[str, Any] = {}
    with _open_bytes(tweets) as handle:
        _, rows = read_rows(handle, str(tweets))
        for row in rows:
            # a row the CSV parser cannot read is passed on with its reason and bytes (the replayer
            # dead-letters it) instead of ending the replay
            if isinstance(row, CsvReject):
                yield RawRecord(
                    format=NAME, source_uri=uri, position=str(row.line), payload=unreadable(row.reason, row.original)
                )
                continue
            fields = row.fields
            event_time = or_none(from_naive, fields.get("publish_date"))
            author = authors.get(fields.get("author_id") or "")
            yield RawRecord(
                format=NAME,
                source_uri=uri,
                position=str(row.line),
                event_time=event_time,
                payload=fields,
                context={"author": author} if author else no_author,
            )


def normalize(raw: RawRecord) -> Post:
    p = raw.payload
    reject_unreadable(p)
    author_id = req_str(p, "author_id")
    published = req_str(p, "publish_date")
    content = text_field(p, "content")
    updates = opt_str(p, "updates") or ""
    post_type = (opt_str(p, "post_type") or "").strip().upper()
    text = unescape_html(content)

    reshare_of = quote_of = None
    if post_type in _RETWEET:
        # An empty retweet text identifies nothing; anchor it to itself rather than to all others.
        basis = content if content.strip() else tweet_id(author_id, published, content, updates)
        reshare_of = RETWEET_SOURCE_PREFIX + _digest(basis)
    elif post_type in _QUOTE:
        links = extract_urls(content)
        quote_of = QUOTE_SOURCE_PREFIX + _digest(links[-1] if links else content)

    known = raw.context.get("author")
    known = known if isinstance(known, dict) else {}
    handle = known.get("author")
    category = opt_str(p, "account_category") or known.get("account_category")
    language = opt_str(p, "language")
    return text_post(
        raw,
        PLATFORM,
        text,
        platform_id=tweet_id(author_id, published, content, updates),
        author=Author(
            id=author_id,
            handle=handle if isinstance(handle, str) and handle else author_id,
            followers=opt_count(p, "followers"),
            following=opt_count(p, "following"),
            category=category if isinstance(category, str) else None,
        ),
        language=LANGUAGES.get(language, language) if language else None,
        created_at=from_naive(published, what="publish_date"),
        reshare_of=reshare_of,
        quote_of=quote_of,
    )


def sniff(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("ira_tweets*.csv*"))
    if not (path.name.endswith(".csv") or path.name.endswith(".csv.gz")):
        return False
    with _open_text(path) as handle:
        header = set(next(csv.reader(handle), []))
    return header >= _HEADER
