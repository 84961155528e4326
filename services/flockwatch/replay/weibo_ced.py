"""``weibo_ced``: the CED Weibo rumour dataset, 3,387 source posts and their 1,275,180 reposts.

``CED_Dataset.tar.gz`` holds ``original-microblog/<n>_<mid>_<uid>.json`` (one source post:
``text, time, user{followers, friends, ...}, likes, reposts, comments, pics, ...``) and
``rumor-repost/`` / ``non-rumor-repost/`` files of the same name, each a JSON list of reposts
``{mid, parent, kids, uid, text, date}``; an empty ``parent`` is a direct repost of the source.

Decisions, and why:

- **Streaming.** The archive is read member by member straight from the gzip stream (never
  extracted); only one cascade file and a map of source times are in memory at once.
- **Source ids** come from the file name (the JSON has no ``mid``), and so does the author uid.
- **Reposts vs comments.** The dataset does not tell them apart (its README says so), so every
  record under a source is a reshare: ``reshare_of`` = ``parent`` or the source ``mid``, which
  is the path the cascade took. ``root_id`` is the source ``mid`` (on the source itself too).
- **Time.** Source ``time`` is Unix seconds, or (87 posts) a string like
  ``Mon May 27 12:07:05 +0800 2013``; those 87 also have ``"user": "empty"``, read as no
  profile (so no follower counts). Repost ``date`` is Beijing wall-clock time (UTC+8; it
  lines up with the sources' Unix times), or (74 reposts) year-less ``07月23日 11:47``. Weibo
  shows that form for the current year *at crawl time*: 9-character mids encode their
  creation second (:func:`~flockwatch.replay.timestamps.weibo_mid_time`), which puts all 74 in
  2016, three years after their sources; so the year comes from the repost's mid, and only
  for old-style mids from the source post (``anchor_time``, or the first full date in the file
  when the source was not read first).
- **Duplicates.** 724 reposts repeat a ``mid`` within their file (re-crawls with other ``kids``,
  125 with another ``parent``); they keep the same id, so the later one overwrites the earlier.
- **Labels** (rumour / non-rumour) come from the repost folder and ride in the reposts'
  ``context``; ``Post`` has no place for them. Engagement counts exist only for sources.
"""

from __future__ import annotations

import contextlib
import json
import tarfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from flockwatch.replay.base import relative_uri, text_post
from flockwatch.replay.payload import (
    MAX_JSON_DEPTH,
    is_decimal,
    json_depth,
    opt_count,
    opt_dict,
    opt_str,
    reject_unreadable,
    req_id,
    req_str,
    text_field,
    unreadable,
)
from flockwatch.replay.timestamps import (
    CHINA_TZ,
    from_iso,
    from_month_day,
    from_naive,
    from_twitter_date,
    from_unix,
    weibo_mid_time,
)
from flockwatch.schema import Author, Engagement, Post, RawRecord

NAME = "weibo_ced"
DESCRIPTION = "CED Weibo rumour cascades (Song et al. 2018): sources and 1.27M reposts"
PLATFORM = "weibo"
DEFAULT_PATH = "spread/weibo_ced/CED_Dataset.tar.gz"
SOURCE_FOLDER = "original-microblog"
REPOST_FOLDERS = {"rumor-repost": "rumor", "non-rumor-repost": "non-rumor"}
EMPTY_USER = "empty"


def split_member_name(name: str) -> tuple[str, str, str]:
    """``.../1054_zChiYlLDT_2340498132.json`` → (index, mid, uid)."""
    parts = PurePosixPath(name).stem.split("_")
    if len(parts) < 3:
        raise ValueError(f"not an <n>_<mid>_<uid>.json name: {name!r}")
    return parts[0], "_".join(parts[1:-1]), parts[-1]


def source_time(value: object) -> datetime:
    """A source post's ``time``: Unix seconds, or a ``Mon May 27 12:07:05 +0800 2013`` string."""
    if isinstance(value, str) and not is_decimal(value.strip().lstrip("-").replace(".", "", 1)):
        return from_twitter_date(value, what="time")
    return from_unix(value, what="time")


def repost_time(value: object, mid: object, anchor: datetime | None) -> datetime:
    """A repost's ``date``: ``2014-07-24 14:37:38`` (UTC+8) or year-less ``07月23日 11:47``.

    The year of a year-less date comes from the time encoded in the repost's own ``mid``, else
    from ``anchor`` (the cascade's source post).
    """
    if isinstance(value, str) and "月" in value:
        anchor = weibo_mid_time(mid) or anchor
        if anchor is None:
            raise ValueError(f"date {value!r} has no year, and neither the mid nor anchor_time gives one")
        return from_month_day(value, anchor=anchor, what="date")
    return from_naive(value, tz=CHINA_TZ, what="date")


def ced_archive(path: Path) -> Path:
    if path.is_dir():
        candidates = sorted(path.glob("CED_Dataset*.tar.gz"))
        if not candidates:
            raise FileNotFoundError(f"no CED_Dataset.tar.gz in {path}")
        return candidates[0]
    return path


def _first_full_date(items: list[Any]) -> datetime | None:
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("date"), str) and "月" not in item["date"]:
            try:
                return from_naive(item["date"], tz=CHINA_TZ)
            except ValueError:
                continue
    return None


def read(path: Path, data_dir: Path | None = None) -> Iterator[RawRecord]:
    """Sources first (the archive's order), then each cascade's reposts in file order."""
    archive = ced_archive(path)
    uri = relative_uri(archive, data_dir)
    source_times: dict[str, datetime] = {}
    for folder, member, raw_bytes in ced_members(archive):
        try:
            index, mid, uid = split_member_name(member)
            data: Any = json.loads(raw_bytes)
        except RecursionError:  # nested past Python's parser: the file is one unreadable record
            yield RawRecord(
                format=NAME, source_uri=uri, position=member, payload=unreadable("JSON nested too deeply", raw_bytes)
            )
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            yield RawRecord(format=NAME, source_uri=uri, position=member, payload=unreadable(str(exc), raw_bytes))
            continue
        if folder == SOURCE_FOLDER:
            yield _source_record(data, raw_bytes, member, uri, index, mid, uid, source_times)
        else:
            yield from _repost_records(data, raw_bytes, member, uri, mid, uid, folder, source_times)


def ced_members(archive: Path) -> Iterator[tuple[str, str, bytes]]:
    """``(folder, member name, bytes)`` of each source and repost file, streamed in archive order."""
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            name = PurePosixPath(member.name)
            if not member.isfile() or name.suffix != ".json" or len(name.parts) < 2:
                continue
            folder = name.parts[-2]
            if folder != SOURCE_FOLDER and folder not in REPOST_FOLDERS:
                continue
            handle = tar.extractfile(member)
            if handle is not None:
                yield folder, member.name, handle.read()


def _original(value: Any, file_bytes: bytes) -> str | bytes:
    """What an unreadable record keeps: the value as JSON, or the file's bytes when it nests too deeply to dump."""
    return json.dumps(value) if json_depth(value) <= MAX_JSON_DEPTH else file_bytes


def _source_record(
    data: Any,
    file_bytes: bytes,
    member: str,
    uri: str,
    index: str,
    mid: str,
    uid: str,
    source_times: dict[str, datetime],
) -> RawRecord:
    event_time: datetime | None = None
    if isinstance(data, dict) and json_depth(data) > MAX_JSON_DEPTH:
        payload = unreadable(f"source nested {json_depth(data)} levels deep (limit {MAX_JSON_DEPTH})", file_bytes)
    elif isinstance(data, dict):
        try:
            event_time = source_time(data.get("time"))
            source_times[mid] = event_time
        except ValueError:
            pass
        payload = data
    else:
        payload = unreadable(f"expected a JSON object, got {type(data).__name__}", _original(data, file_bytes))
    return RawRecord(
        format=NAME,
        source_uri=uri,
        position=member,
        event_time=event_time,
        payload=payload,
        context={"mid": mid, "uid": uid, "index": index},
    )


def _repost_records(
    data: Any,
    file_bytes: bytes,
    member: str,
    uri: str,
    mid: str,
    uid: str,
    folder: str,
    source_times: dict[str, datetime],
) -> Iterator[RawRecord]:
    if not isinstance(data, list):
        yield RawRecord(
            format=NAME,
            source_uri=uri,
            position=member,
            payload=unreadable(
                f"expected a JSON list of reposts, got {type(data).__name__}", _original(data, file_bytes)
            ),
        )
        return
    anchor = source_times.get(mid) or _first_full_date(data)
    context: dict[str, Any] = {
        "root_mid": mid,
        "root_uid": uid,
        "label": REPOST_FOLDERS[folder],
        "anchor_time": anchor.isoformat() if anchor else None,
    }
    for i, item in enumerate(data):
        event_time: datetime | None = None
        if isinstance(item, dict) and json_depth(item) > MAX_JSON_DEPTH:
            payload = unreadable(f"repost nested {json_depth(item)} levels deep (limit {MAX_JSON_DEPTH})", file_bytes)
        elif isinstance(item, dict):
            payload = item
            with contextlib.suppress(ValueError):
                event_time = repost_time(item.get("date"), item.get("mid"), anchor)
        else:
            payload = unreadable(f"expected a JSON object, got {type(item).__name__}", _original(item, file_bytes))
        yield RawRecord(
            format=NAME,
            source_uri=uri,
            position=f"{member}#{i}",
            event_time=event_time,
            payload=payload,
            context=context,
        )


def normalize(raw: RawRecord) -> Post:
    reject_unreadable(raw.payload)
    if raw.context.get("root_mid") is not None:
        return _normalize_repost(raw)
    return _normalize_source(raw)


def _normalize_source(raw: RawRecord) -> Post:
    p, ctx = raw.payload, raw.context
    mid = req_str(ctx, "mid")
    # The 87 sources with string times have ``"user": "empty"`` instead of a profile.
    user = {} if p.get("user") == EMPTY_USER else opt_dict(p, "user") or {}
    text = text_field(p, "text")
    if p.get("time") is None:
        raise ValueError("missing field 'time'")
    return text_post(
        raw,
        PLATFORM,
        text,
        "weibo",
        platform_id=mid,
        author=Author(
            id=req_str(ctx, "uid"),
            followers=opt_count(user, "followers"),
            following=opt_count(user, "friends"),
        ),
        created_at=source_time(p.get("time")),
        root_id=mid,
        engagement=Engagement(
            likes=opt_count(p, "likes"),
            reshares=opt_count(p, "reposts"),
            replies=opt_count(p, "comments"),
        ),
    )


def _normalize_repost(raw: RawRecord) -> Post:
    p, ctx = raw.payload, raw.context
    root = req_str(ctx, "root_mid")
    anchor_text = opt_str(ctx, "anchor_time")
    anchor = from_iso(anchor_text, what="anchor_time") if anchor_text else None
    text = text_field(p, "text")
    if p.get("date") is None:
        raise ValueError("missing field 'date'")
    return text_post(
        raw,
        PLATFORM,
        text,
        "weibo",
        platform_id=req_str(p, "mid"),
        author=Author(id=req_id(p, "uid")),
        created_at=repost_time(p.get("date"), p.get("mid"), anchor),
        reshare_of=opt_str(p, "parent") or root,
        root_id=root,
    )


def sniff(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("CED_Dataset*.tar.gz"))
    if path.name.startswith("CED_Dataset") and path.name.endswith(".tar.gz"):
        return True
    if not path.name.endswith((".tar.gz", ".tgz")):
        return False
    with tarfile.open(path, "r|gz") as tar:
        first = tar.next()
    return first is not None and first.name.startswith("CED_Dataset")
