"""The video connector (yt-dlp, flat extraction) against local servers, with no internet:

- a video site (tests/platform_servers/video_pages.py) whose pages yt-dlp's generic extractor reads as playlists:
  ``<video>`` tags, an RSS feed of clips, YouTube/Vimeo embeds; the clips are the shared data's real videos;
- a stand-in for www.youtube.com (tests/platform_servers/youtube.py) that yt-dlp's own YouTube extractors read:
  a playlist, watch pages (the per-video extraction that dates flat entries) and InnerTube search;
- the contract's command exactly; misbehaving servers; the address rules; ten thousand mutated infos.
Waits are recorded, not slept.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import ipaddress
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flockwatch.adapters.connectors.http_api import ApiError, Refused
from flockwatch.adapters.connectors.sink import FileSink
from flockwatch.adapters.connectors.video import (
    MAX_ENTRIES,
    VideoConnector,
    check_target,
    media_policy,
    video_connector,
)
from flockwatch.adapters.media_fetch import FetchPolicy, fetch_media
from flockwatch.adapters.video_platforms import is_video_platform_url
from flockwatch.config import Settings
from flockwatch.graph.urls import canonicalize_url
from flockwatch.replay import normalize_record
from flockwatch.replay.payload import unreadable
from flockwatch.replay.pulled import DATED_BY_PULL
from flockwatch.schema import MediaKind, Post, RawRecord
from tests.mutations import json_values, mutate, post_or_dead_lettered
from tests.platform_servers.http import PlatformServer
from tests.platform_servers.video_pages import CLIPS, VideoSite, video_server
from tests.platform_servers.youtube import CHANNEL, VIDEOS, YouTube, youtube_dns, youtube_server
from tests.unit.replay.test_ytdlp import FULL, flat_entries

DATA = Settings().data_dir
FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))
FAST = dataclasses.replace(FetchPolicy(), read_timeout_s=0.5, connect_timeout_s=0.5, deadline_s=20.0)


class Waits(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(url: str, waits: Waits | None = None, **options: Any) -> VideoConnector:
    made = video_connector(Settings(), url=url, policy=FAST, sleep=waits if waits is not None else Waits())
    for key, value in options.items():
        setattr(made, key, value)
    return made


def pull(conn: VideoConnector, cursor: str | None = None) -> tuple[list[RawRecord], list[Post], str | None]:
    (batch,) = list(conn.batches(cursor))
    posts = [normalize_record(r) for r in batch.records]
    return batch.records, [p for p in posts if p is not None], batch.cursor


@pytest.fixture
def site() -> Iterator[tuple[VideoSite, PlatformServer]]:
    videos = VideoSite(DATA)
    with video_server(videos) as server:
        yield videos, server


def clip_ids(site: VideoSite) -> list[str]:
    return [canonicalize_url(f"{site.base}/media/{name}.mp4") for name in site.clips]


# --- what is collected ---------------------------------------------------------------------------------------


def test_cli_contract_command_on_a_page_of_videos(site: tuple[VideoSite, PlatformServer], tmp_path: Path) -> None:
    videos, server = site
    out = tmp_path / "OUT.jsonl"
    done = subprocess.run(
        [FLOCKWATCH, "collect", "video", "--url", f"{server.url}/clips.html", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    posts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["platform_id"] for p in posts] == clip_ids(videos)
    assert {p["platform"] for p in posts} == {"web"} and {p["author"]["id"] for p in posts} == {"127.0.0.1"}
    assert [p["media"] for p in posts] == [
        [{"url": f"{server.url}/media/{name}.mp4", "kind": "video"}] for name in videos.clips
    ]
    assert all(p["created_at"] == p["collected_at"] for p in posts)  # no date on the page: dated by the pull
    assert "no date" in done.stderr  # and said so
    assert server.paths() == ["/clips.html"]  # flat: the videos themselves are not fetched


def test_cli_contract_command_on_a_feed_of_videos(site: tuple[VideoSite, PlatformServer], tmp_path: Path) -> None:
    videos, server = site
    out = tmp_path / "OUT.jsonl"
    done = subprocess.run(
        [FLOCKWATCH, "collect", "video", "--url", f"{server.url}/feed.xml", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    posts = [Post.model_validate_json(line) for line in out.read_text().splitlines()]
    assert [p.platform_id for p in posts] == clip_ids(videos)
    assert [p.created_at for p in posts] == [datetime(2025, 7, day, 9, tzinfo=UTC) for day in (1, 2, 3)]
    assert posts[0].text == "Doorknob hd no bar\n\nDoorknob hd no bar #clips https://example.org/about?utm_source=feed"
    assert posts[0].urls == ["https://example.org/about"] and posts[0].hashtags == ["clips"]


def test_a_re_pull_emits_only_new_videos_even_when_they_shift_the_page(site: tuple[VideoSite, PlatformServer]) -> None:
    videos, server = site
    _, first, cursor = pull(connector(f"{server.url}/clips.html"))
    videos.clips.insert(0, CLIPS[3])  # the generic extractor numbers by position: every old clip moves
    _, second, cursor = pull(connector(f"{server.url}/clips.html"), cursor)
    assert [p.platform_id for p in second] == clip_ids(videos)[:1]
    assert pull(connector(f"{server.url}/clips.html"), cursor)[1] == []
    assert len(first) == 3


def test_the_media_stage_can_fetch_what_was_collected(site: tuple[VideoSite, PlatformServer], tmp_path: Path) -> None:
    videos, server = site
    _, posts, _ = pull(connector(f"{server.url}/clips.html"))
    media = posts[0].media[0]
    assert media.kind == MediaKind.video and not is_video_platform_url(media.url)  # a plain file: fetched directly
    local = FetchPolicy(allow_addresses=frozenset({ipaddress.ip_network("127.0.0.1/32")}))
    fetched = fetch_media(media.url, tmp_path, local, kinds=frozenset({"video"}))
    assert fetched.sha256 == hashlib.sha256(videos.clip_path(videos.clips[0]).read_bytes()).hexdigest()


def test_embedded_players_give_posts_of_their_platforms(site: tuple[VideoSite, PlatformServer]) -> None:
    _videos, server = site
    records, posts, _ = pull(connector(f"{server.url}/embeds.html", detail_cap=0))  # no per-video extraction
    assert sorted((p.platform, p.platform_id) for p in posts) == [  # in the order yt-dlp's embed finders ran
        ("vimeo", "76979871"),
        ("youtube", "dQw4w9WgXcQ"),
        ("youtube", "jNQXAC9IVRw"),
    ]
    assert {p.author.id for p in posts} == {"127.0.0.1"}  # no uploader known: the page that embeds them
    assert all(is_video_platform_url(p.media[0].url) for p in posts)  # the media stage resolves them via yt-dlp
    assert all(DATED_BY_PULL in r.payload for r in records)


# --- yt-dlp's own YouTube extractors, against the local stand-in ---------------------------------------------


@pytest.fixture
def youtube(monkeypatch: pytest.MonkeyPatch) -> Iterator[YouTube]:
    site = YouTube()
    with youtube_server(site) as (port, cert):
        youtube_dns(monkeypatch, port, cert)
        yield site


def test_a_youtube_playlist_is_listed_flat_then_each_new_video_dated(youtube: YouTube) -> None:
    records, posts, cursor = pull(connector("https://www.youtube.com/playlist?list=PLferry"))
    assert [(p.platform, p.platform_id) for p in posts] == [("youtube", v.video_id) for v in VIDEOS]
    assert {p.author.id for p in posts} == {CHANNEL[1]}
    assert [p.created_at for p in posts] == [datetime.fromisoformat(v.published) for v in VIDEOS]
    assert posts[0].text == f"{VIDEOS[0].title}\n\n{VIDEOS[0].description}"
    assert posts[0].urls == ["https://council.example.gov/transport/ferries"]
    assert [p.media[0].url for p in posts] == [f"https://www.youtube.com/watch?v={v.video_id}" for v in VIDEOS]
    assert all(DATED_BY_PULL not in r.payload and "formats" not in r.payload for r in records)
    assert sum(r.startswith("GET /watch") for r in youtube.requests) == len(VIDEOS)
    youtube.requests.clear()
    assert pull(connector("https://www.youtube.com/playlist?list=PLferry"), cursor)[1] == []
    assert not any(r.startswith("GET /watch") for r in youtube.requests)  # nothing new: nothing extracted again


def test_past_the_detail_cap_videos_are_dated_by_the_pull_and_flagged(youtube: YouTube) -> None:
    records, posts, _ = pull(connector("https://www.youtube.com/playlist?list=PLferry", detail_cap=1))
    assert posts[0].created_at == datetime.fromisoformat(VIDEOS[0].published)
    assert [DATED_BY_PULL in r.payload for r in records] == [False, True, True]
    assert [p.created_at == p.collected_at for p in posts] == [False, True, True]
    assert sum(r.startswith("GET /watch") for r in youtube.requests) == 1


def test_a_youtube_search_reaches_youtube_only_where_the_rules_allow(youtube: YouTube) -> None:
    with pytest.raises(Refused, match=re.escape("refused address 127.0.0.1: loopback")):
        pull(connector("ytsearch2:ferry timetable rumour", detail_cap=0))
    # A search names no page to trust: the stand-in's loopback address must be let through like any test's.
    local = dataclasses.replace(FAST, allow_addresses=frozenset({ipaddress.ip_network("127.0.0.1/32")}))
    _, posts, _ = pull(connector("ytsearch2:ferry timetable rumour", detail_cap=0, policy=local))
    assert [p.platform_id for p in posts] == [v.video_id for v in VIDEOS[:2]]
    assert posts[0].engagement.views == VIDEOS[0].views
    assert any(r.startswith("POST /youtubei/v1/search") for r in youtube.requests)


@pytest.mark.parametrize(
    ("given", "asked"),
    [
        ("ytsearch10:ferry rumours", "ytsearch10:ferry rumours"),
        ("ytsearch:ferry", "ytsearch1:ferry"),
        ("ytsearchall:ferry", f"ytsearch{MAX_ENTRIES}:ferry"),
        ("ytsearch5000:ferry", f"ytsearch{MAX_ENTRIES}:ferry"),
        ("ytsearchdate5:ferry", "ytsearchdate5:ferry"),
        ("scsearch3:harbour", "scsearch3:harbour"),
        ("http://localhost:8080/channel", "http://127.0.0.1:8080/channel"),
        ("http://LocalHost/c?x=1", "http://127.0.0.1/c?x=1"),
        ("https://www.youtube.com/@x/videos", "https://www.youtube.com/@x/videos"),
    ],
)
def test_targets(given: str, asked: str) -> None:
    assert check_target(given).url == asked


@pytest.mark.parametrize("bad", ["ftp://example.org/v", "www.youtube.com/@x", "", "http://"])
def test_bad_targets(bad: str) -> None:
    with pytest.raises(ValueError, match="--url"):
        video_connector(Settings(), url=bad)


# --- bad servers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["503", "429", "hang", "truncate", "drop"])
def test_a_misbehaving_server_is_retried_without_gap_or_duplicate(
    site: tuple[VideoSite, PlatformServer], fault: str
) -> None:
    videos, server = site
    server.faults.queue, server.faults.retry_after, server.faults.hang_s = [fault], "7", 2.0
    if fault == "drop":
        server.faults.queue, videos.drop_next = [], 1
    waits = Waits()
    _, posts, _ = pull(connector(f"{server.url}/clips.html", waits))
    assert [p.platform_id for p in posts] == clip_ids(videos)
    assert server.paths() == ["/clips.html", "/clips.html"] and len(waits) == 1
    if fault == "429":
        assert waits == [7.0]  # Retry-After, not our guess


def test_a_server_that_keeps_failing_is_an_error_after_the_attempts(site: tuple[VideoSite, PlatformServer]) -> None:
    _videos, server = site
    server.faults.queue = ["503"] * 10
    waits = Waits()
    with pytest.raises(ApiError, match="after 4 attempts: HTTP 503"):
        pull(connector(f"{server.url}/clips.html", waits))
    assert len(server.paths()) == 4 and len(waits) == 3


def test_not_found_and_pages_without_videos_fail_at_once(site: tuple[VideoSite, PlatformServer]) -> None:
    videos, server = site
    waits = Waits()
    with pytest.raises(ApiError, match="HTTP 404"):
        pull(connector(f"{server.url}/gone.html", waits))
    videos.clips.clear()
    with pytest.raises(ApiError, match="Unsupported URL"):
        pull(connector(f"{server.url}/clips.html", waits))
    assert waits == [] and len(server.paths()) == 2


# --- where it may connect ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["other-loopback-port", "http://10.1.2.3/v", "http://169.254.169.254/latest/"])
def test_the_explicit_page_is_trusted_for_its_own_origin_only(
    site: tuple[VideoSite, PlatformServer], where: str
) -> None:
    _videos, server = site
    with video_server(VideoSite(DATA)) as other:
        target = f"{other.url}/clips.html" if where == "other-loopback-port" else where
        server.faults.queue = [f"redirect:{target}"]
        with pytest.raises(Refused, match="refused address"):
            pull(connector(f"{server.url}/clips.html"))
        assert other.paths() == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/", "http://10.0.0.7/channel", "http://192.168.1.1/"])
def test_page_urls_on_private_addresses_are_refused_before_any_request(url: str) -> None:
    with pytest.raises(Refused, match="refused address"):
        pull(connector(url))


def test_cli_exit_codes(tmp_path: Path) -> None:
    out = str(tmp_path / "o.jsonl")
    bad = subprocess.run([FLOCKWATCH, "collect", "video", "--url", "file:///etc/passwd", "--output", out], timeout=60)
    refused = subprocess.run(
        [FLOCKWATCH, "collect", "video", "--url", "http://169.254.169.254/", "--output", out],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert refused.returncode == 1 and "cloud metadata endpoint" in refused.stderr


def test_an_unreadable_cursor_starts_over(site: tuple[VideoSite, PlatformServer]) -> None:
    _videos, server = site
    assert len(pull(connector(f"{server.url}/clips.html"), "{not json")[1]) == 3


def test_extraction_is_flat_bounded_and_without_cookies_or_post_processing() -> None:
    made = video_connector(Settings(), url="ytsearch5:x")
    listing, detail = made.list_options(), made.detail_options()
    assert listing["extract_flat"] == "in_playlist" and listing["playlistend"] == MAX_ENTRIES
    assert listing["noplaylist"] is False and "playlist_items" not in listing
    assert detail["noplaylist"] is True and detail["ignore_no_formats_error"] is True
    for options in (listing, detail):
        assert options["postprocessors"] == [] and options["skip_download"] is True and options["proxy"] == ""
        assert not {"cookiefile", "cookiesfrombrowser", "username", "password"} & set(options)


def test_the_default_policy_is_the_media_stages() -> None:
    settings = Settings(media_allow_networks="10.9.0.0/16")
    assert media_policy(settings).allow_addresses == frozenset({ipaddress.ip_network("10.9.0.0/16")})


# --- mutated infos: a post, a skip or a ValueError, and every reject dead-lettered ---------------------------


JSON = json_values(
    ["", "url", "url_transparent", "playlist", "video", "Youtube", "YoutubeTab", "Generic", "is_upcoming",
     "20250603", "2025-06-03", "1748952007", "https://www.youtube.com/watch?v=x", "http://[", "UCx"]
)  # fmt: skip


@pytest.fixture(scope="module")
def real_infos() -> list[dict[str, Any]]:
    """What the connector records: the video site's three pages, and YouTube flat entries and a full info."""
    infos: list[dict[str, Any]] = []
    with video_server(VideoSite(DATA)) as server:
        for page in ("clips.html", "feed.xml", "embeds.html"):
            records, _, _ = pull(connector(f"{server.url}/{page}", detail_cap=0))
            infos += [r.payload for r in records]
    return infos + flat_entries("search") + flat_entries("playlist") + [FULL]


@pytest.fixture(scope="module")
def fuzz_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileSink]:
    sink = FileSink(tmp_path_factory.mktemp("video-fuzz") / "out.jsonl")
    yield sink
    sink.close()


@settings(
    max_examples=10_000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_infos_are_posts_skips_or_value_errors_and_every_reject_is_dead_lettered(
    data: st.DataObject, real_infos: list[dict[str, Any]], fuzz_sink: FileSink
) -> None:
    payload = copy.deepcopy(data.draw(st.sampled_from(real_infos)))
    if data.draw(st.integers(0, 19)) == 0:
        payload = unreadable("line 1 is not a yt-dlp info dict: cut short", json.dumps(payload)[:50])
    mutate(data.draw, payload, JSON)
    seen = data.draw(st.sampled_from(["2026-01-02T03:04:05+00:00"] * 8 + [None, "garbage"]))
    record = RawRecord(
        format="ytdlp", source_uri="u", position="p", payload=payload, context={"collected_at": seen} if seen else {}
    )
    post_or_dead_lettered(record, fuzz_sink)
