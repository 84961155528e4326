"""The ``ytdlp`` normaliser: flat entries made by yt-dlp's own YouTube code from YouTube-shaped renderers, full
video infos in yt-dlp's shape, generic (web) entries, and what is not a post."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from yt_dlp import YoutubeDL
from yt_dlp.extractor.youtube import YoutubeTabIE

from flockwatch.adapters.video_platforms import is_video_platform_url
from flockwatch.replay import detect_format, normalize_record, read_dataset
from flockwatch.replay.base import COLLECTED_AT
from flockwatch.replay.pulled import DATED_BY_PULL
from flockwatch.replay.ytdlp import platform_of
from flockwatch.schema import MediaKind, Post, RawRecord
from tests.platform_servers.youtube import CHANNEL, VIDEOS, playlist_renderer, search_renderer

SEEN = "2026-01-02T03:04:05+00:00"


def flat_entries(kind: str = "search") -> list[dict[str, Any]]:
    """What yt-dlp's YouTube tab/search code makes of each renderer (sanitised as the connector does)."""
    with YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
        ie = YoutubeTabIE(ydl)
        out = []
        for index, video in enumerate(VIDEOS, start=1):
            renderer = search_renderer(video) if kind == "search" else playlist_renderer(video, index)
            entry = ie._extract_video(next(iter(renderer.values())))
            out.append(ydl.sanitize_info(entry, remove_private_keys=True))
        return out


FULL = {
    "_type": "video",
    "id": "Qm3xT9pLk2E",
    "title": "Ferry timetable: what is actually changing",
    "description": "Nothing is cancelled. https://council.example.gov/transport/ferries?utm_source=yt #FerryFacts",
    "channel_id": CHANNEL[1],
    "channel": CHANNEL[0],
    "channel_follower_count": 2310,
    "uploader": CHANNEL[0],
    "uploader_id": CHANNEL[2],
    "timestamp": 1748952007,
    "upload_date": "20250603",
    "duration": 192,
    "view_count": 18422,
    "like_count": 311,
    "comment_count": 42,
    "live_status": "not_live",
    "webpage_url": "https://www.youtube.com/watch?v=Qm3xT9pLk2E",
    "extractor": "youtube",
    "extractor_key": "Youtube",
    "playlist_webpage_url": "https://www.youtube.com/playlist?list=PLferry",
    "language": "en",
}


def post(payload: dict[str, Any], seen: str | None = SEEN) -> Post | None:
    context = {COLLECTED_AT: seen} if seen else {}
    return normalize_record(RawRecord(format="ytdlp", source_uri="t", position="1", payload=payload, context=context))


def must(payload: dict[str, Any], seen: str | None = SEEN) -> Post:
    result = post(payload, seen)
    assert isinstance(result, Post)
    return result


def test_flat_search_entries_are_youtube_posts_of_their_channel() -> None:
    entries = flat_entries("search")
    posts = [must(e) for e in entries]
    assert [p.platform for p in posts] == ["youtube"] * len(VIDEOS)
    assert [p.platform_id for p in posts] == [v.video_id for v in VIDEOS]
    first = posts[0]
    assert (
        first.author.id == CHANNEL[1] and first.author.handle == CHANNEL[2] and first.author.display_name == CHANNEL[0]
    )
    assert first.text.startswith(VIDEOS[0].title + "\n\nNothing is being cancelled.")
    assert first.engagement.views == VIDEOS[0].views
    assert [(m.kind, m.url) for m in first.media] == [(MediaKind.video, "https://www.youtube.com/watch?v=Qm3xT9pLk2E")]
    # The media stage resolves the watch URL through yt-dlp (video_platforms), not as a plain file.
    assert all(is_video_platform_url(p.media[0].url) for p in posts)
    # Flat listings have no date: the pull's time.
    assert first.created_at == datetime.fromisoformat(SEEN)


def test_flat_playlist_entries_without_an_owner_take_the_playlists() -> None:
    entry = flat_entries("playlist")[0]
    for key in ("channel_id", "channel", "uploader", "uploader_id", "channel_url", "uploader_url"):
        entry.pop(key, None)
    with pytest.raises(ValueError, match="no channel or uploader"):
        must(entry)
    entry |= {"playlist_channel_id": CHANNEL[1], "playlist_channel": CHANNEL[0]}
    assert must(entry).author.id == CHANNEL[1]


def test_a_full_info_gives_time_counts_links_and_hashtags() -> None:
    video = must(copy.deepcopy(FULL))
    assert video.created_at == datetime(2025, 6, 3, 12, 0, 7, tzinfo=UTC)
    assert (video.engagement.views, video.engagement.likes, video.engagement.replies) == (18422, 311, 42)
    assert video.author.followers == 2310
    assert video.urls == ["https://council.example.gov/transport/ferries"]
    assert video.hashtags == ["FerryFacts"]
    assert video.language == "en"
    assert video.media[0].url == FULL["webpage_url"]


def test_dates_fall_back_in_order_and_unusable_ones_are_errors() -> None:
    info = copy.deepcopy(FULL)
    del info["timestamp"]
    assert must(info).created_at == datetime(2025, 6, 3, tzinfo=UTC)  # upload_date
    info["release_timestamp"] = 1748900000
    assert must(info).created_at == datetime.fromtimestamp(1748900000, UTC)
    info |= {"release_timestamp": "soon", "upload_date": "2025-06-03"}
    with pytest.raises(ValueError, match="no usable date"):
        must(info)
    future = copy.deepcopy(FULL) | {"timestamp": (datetime.now(UTC) + timedelta(days=9)).timestamp()}
    assert must(future).created_at == datetime(2025, 6, 3, tzinfo=UTC)  # the implausible one is skipped
    undated = {k: v for k, v in FULL.items() if k not in ("timestamp", "upload_date")}
    with pytest.raises(ValueError, match="no date"):
        must(undated, seen=None)


def test_listings_and_upcoming_streams_are_not_posts() -> None:
    tab = {"_type": "url", "ie_key": "YoutubeTab", "url": "https://www.youtube.com/@x/shorts", "id": "UCx"}
    assert post(tab) is None
    assert post({"_type": "playlist", "id": "PLx", "title": "x"}) is None
    assert post(copy.deepcopy(FULL) | {"live_status": "is_upcoming"}) is None


def test_web_videos_are_keyed_by_their_canonical_url_and_their_host() -> None:
    entry = {
        "id": "page-2",
        "title": "Clips of the week (2)",
        "extractor": "html5",
        "extractor_key": "HTML5MediaEmbed",
        "url": "http://Clips.example.org/media/b.mp4",
        "webpage_url": "http://clips.example.org/clips.html",
        "playlist_webpage_url": "http://clips.example.org/clips.html",
    }
    video = must(entry)
    assert (video.platform, video.platform_id) == ("web", "https://clips.example.org/media/b.mp4")
    assert video.media[0].url == "http://Clips.example.org/media/b.mp4"  # fetched as given
    assert video.author.id == "clips.example.org"
    moved = entry | {"id": "page-1"}  # a new clip inserted before it: same video, same id
    assert must(moved).platform_id == video.platform_id


def test_embedded_videos_without_uploader_are_attributed_to_the_page() -> None:
    embed = {
        "_type": "url",
        "ie_key": "Youtube",
        "id": "dQw4w9WgXcQ",
        "url": "https://www.youtube.com/embed/dQw4w9WgXcQ",
    }
    with pytest.raises(ValueError, match="no channel or uploader"):
        must(embed)
    found = must(embed | {"playlist_webpage_url": "https://blog.example.org/post/7"})
    assert (found.platform, found.author.id) == ("youtube", "blog.example.org")


@pytest.mark.parametrize(
    ("key", "platform"),
    [
        ("Youtube", "youtube"),
        ("YoutubeTab", "youtube"),
        ("TikTok", "tiktok"),
        ("TikTokUser", "tiktok"),
        ("Vimeo", "vimeo"),
        ("TwitchVod", "twitch"),
        ("BiliBili", "bilibili"),
        ("Generic", "web"),
        ("HTML5MediaEmbed", "web"),
        ("Some:Odd Key!", "some"),
        (None, "web"),
    ],
)
def test_platform_names(key: str | None, platform: str) -> None:
    assert platform_of(key) == platform


def test_malformed_fields_are_value_errors() -> None:
    with pytest.raises(ValueError, match="'id'"):
        must({k: v for k, v in FULL.items() if k != "id"})
    with pytest.raises(ValueError, match="'title'"):
        must(FULL | {"title": ["x"]})
    assert must(FULL | {"view_count": "many", "like_count": -1}).engagement.views is None


def test_saved_payloads_read_back_and_are_recognised(tmp_path: Path) -> None:
    saved = [e | {DATED_BY_PULL: SEEN} for e in flat_entries()] + [FULL]  # as the connector marks flat entries
    path = tmp_path / "videos.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in saved))
    assert detect_format(path).name == "ytdlp"
    ids = [p.platform_id for p in (normalize_record(r) for r in read_dataset("ytdlp", path, tmp_path)) if p]
    assert ids == [v.video_id for v in VIDEOS] + [FULL["id"]]
